import { describe, expect, it } from "vitest";
import {
  assertBeforeDeadline,
  DeadlineExceededError,
  invocationDeadline,
  runWithinInvocation,
  safetyMarginMs,
} from "../../src/lib/deadline.js";
import { backoffDelay, retry } from "../../src/lib/retry.js";

/** A fake clock whose sleeps move it forward; every wait is recorded. */
function fakeClock(start = 1_000_000) {
  let now = start;
  const waits: number[] = [];
  return {
    waits,
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
  };
}

const policy = { baseDelayMs: 100, maxDelayMs: 1000 };

describe("backoffDelay", () => {
  it("doubles a capped ceiling and draws under it by the jitter", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, { ...policy, jitter: "none" }))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect(backoffDelay(3, { ...policy, jitter: "equal" }, () => 0)).toBe(200);
    expect(backoffDelay(3, { ...policy, jitter: "equal" }, () => 0.5)).toBe(300);
    expect(backoffDelay(3, { ...policy, jitter: "full" }, () => 0)).toBe(0);
    expect(backoffDelay(3, { ...policy, jitter: "full" }, () => 0.5)).toBe(200);
    expect(backoffDelay(1_000, policy, () => 1)).toBe(1000);
  });
});

describe("retry", () => {
  it("returns the first success with the attempts it took", async () => {
    const clock = fakeClock();
    let calls = 0;

    const outcome = await retry(
      async (attempt) => {
        calls += 1;
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return "done";
      },
      { ...policy, attempts: 5, jitter: "none", sleep: clock.sleep, now: clock.now },
    );

    expect(outcome).toEqual({ ok: true, value: "done", attempts: 3 });
    expect(calls).toBe(3);
    expect(clock.waits).toEqual([100, 200]);
  });

  it("gives up with the reason: not retryable, out of attempts, out of budget", async () => {
    const failing = async () => {
      throw new Error("nope");
    };
    const clock = fakeClock();
    const base = { ...policy, jitter: "none" as const, sleep: clock.sleep, now: clock.now };

    const notRetryable = await retry(failing, { ...base, attempts: 5, isRetryable: () => false });
    const attempts = await retry(failing, { ...base, attempts: 3 });
    const budget = await retry(failing, { ...base, attempts: 100, budgetMs: 250 });

    expect(notRetryable).toMatchObject({ ok: false, reason: "not_retryable", attempts: 1 });
    expect(attempts).toMatchObject({ ok: false, reason: "attempts", attempts: 3 });
    expect((attempts as { error: Error }).error.message).toBe("nope");
    // 100 + 150 (the second wait cut to the budget's end), then the budget is spent.
    expect(budget).toMatchObject({ ok: false, reason: "budget", attempts: 3, elapsedMs: 250 });
  });

  it("never sleeps past the deadline: it gives up before the wait that would cross it", async () => {
    const clock = fakeClock();

    const outcome = await retry(
      async () => {
        clock.advance(10);
        throw new Error("conflict");
      },
      {
        ...policy,
        jitter: "none",
        attempts: 100,
        deadline: clock.now() + 500,
        sleep: clock.sleep,
        now: clock.now,
      },
    );

    // Attempts at 10, 120, 330 ms; the next wait (400 ms) would end past 500 ms.
    expect(outcome).toMatchObject({ ok: false, reason: "deadline", attempts: 3, elapsedMs: 330 });
    expect(clock.waits).toEqual([100, 200]);
  });

  it("takes the invocation's deadline when none is given", async () => {
    const clock = fakeClock();
    const context = { getRemainingTimeInMillis: () => 1_000 };

    const outcome = await runWithinInvocation(
      context,
      () =>
        retry(
          async () => {
            throw new Error("busy");
          },
          { ...policy, jitter: "none", attempts: 100, sleep: clock.sleep, now: clock.now },
        ),
      { now: clock.now },
    );

    // Deadline: 1000 ms remaining less a 100 ms margin. Waits 100, 200, 400 end at 700; 800 would cross 900.
    expect(outcome).toMatchObject({ ok: false, reason: "deadline", attempts: 4 });
    expect(clock.waits).toEqual([100, 200, 400]);
  });
});

describe("invocation deadline", () => {
  it("is the remaining time less a tenth, at most 3 s, and only inside the invocation", async () => {
    expect(safetyMarginMs(30_000)).toBe(3_000);
    expect(safetyMarginMs(2_000)).toBe(200);
    expect(safetyMarginMs(120_000)).toBe(3_000);
    expect(invocationDeadline()).toBeUndefined();

    const seen = await runWithinInvocation(
      { getRemainingTimeInMillis: () => 30_000 },
      async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return invocationDeadline();
      },
      { now: () => 0 },
    );

    expect(seen).toBe(27_000);
    expect(invocationDeadline()).toBeUndefined();
  });

  it("a nested invocation never extends the outer deadline", async () => {
    const now = () => 0;
    const inner = await runWithinInvocation(
      { getRemainingTimeInMillis: () => 1_000 },
      () =>
        runWithinInvocation({ getRemainingTimeInMillis: () => 60_000 }, async () => invocationDeadline(), {
          now,
        }),
      { now },
    );

    expect(inner).toBe(900);
  });

  it("without a context there is none", async () => {
    expect(await runWithinInvocation(undefined, async () => invocationDeadline())).toBeUndefined();
  });

  it("assertBeforeDeadline throws once the deadline passed, inside the invocation only", async () => {
    expect(() => assertBeforeDeadline("outside", () => Number.MAX_SAFE_INTEGER)).not.toThrow();
    const clock = { at: 0 };
    const now = () => clock.at;
    await runWithinInvocation(
      { getRemainingTimeInMillis: () => 1_000 },
      async () => {
        clock.at = 899;
        expect(() => assertBeforeDeadline("award of t", now)).not.toThrow();
        clock.at = 900;
        expect(() => assertBeforeDeadline("award of t", now)).toThrow(DeadlineExceededError);
        expect(() => assertBeforeDeadline("award of t", now)).toThrow(
          "award of t: stopped at the invocation's deadline",
        );
      },
      { now },
    );
  });
});
