import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  describeError,
  NonRetryableError,
  withBackoff,
} from "../../src/domain/bidding/retry.js";

/** Records the waits instead of sleeping. */
function recorder() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

const options = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 };

describe("withBackoff", () => {
  it("returns after the first success without waiting", async () => {
    const { waits, sleep } = recorder();

    const result = await withBackoff(async () => "ok", { ...options, sleep });

    expect(result).toEqual({ ok: true, attempts: 1 });
    expect(waits).toEqual([]);
  });

  it("retries a failure and reports how many attempts it took", async () => {
    const { waits, sleep } = recorder();
    const seen: number[] = [];

    const result = await withBackoff(
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Error("HTTP 503 from agent.example");
      },
      { ...options, sleep, random: () => 0 },
    );

    expect(result).toEqual({ ok: true, attempts: 3 });
    expect(seen).toEqual([1, 2, 3]);
    expect(waits).toEqual([50, 100]);
  });

  it("gives up after the last attempt with the last error, never throwing", async () => {
    const { sleep } = recorder();
    let n = 0;

    const result = await withBackoff(
      async () => {
        n += 1;
        throw new Error(`failure ${n}`);
      },
      { ...options, sleep },
    );

    expect(result).toEqual({ ok: false, attempts: 3, error: "failure 3" });
  });

  it("stops at once on a NonRetryableError", async () => {
    const { waits, sleep } = recorder();

    const result = await withBackoff(
      async () => {
        throw new NonRetryableError("HTTP 404 from agent.example");
      },
      { ...options, sleep },
    );

    expect(result).toEqual({
      ok: false,
      attempts: 1,
      error: "NonRetryableError: HTTP 404 from agent.example",
    });
    expect(waits).toEqual([]);
  });

  it("uses a custom isRetryable when given", async () => {
    const { sleep } = recorder();

    const result = await withBackoff(
      async () => {
        throw new Error("fatal");
      },
      { ...options, sleep, isRetryable: () => false },
    );

    expect(result.attempts).toBe(1);
  });

  it("treats attempts below 1 as one attempt", async () => {
    const result = await withBackoff(
      async () => {
        throw new Error("x");
      },
      { ...options, attempts: 0 },
    );

    expect(result).toEqual({ ok: false, attempts: 1, error: "x" });
  });
});

describe("backoffDelay: equal jitter under an exponential ceiling", () => {
  it("waits between half and all of base·2^(n-1), capped at maxDelayMs", () => {
    expect(backoffDelay(1, options, () => 0)).toBe(50);
    expect(backoffDelay(1, options, () => 0.999999)).toBeCloseTo(100, 3);
    expect(backoffDelay(2, options, () => 0)).toBe(100);
    expect(backoffDelay(3, options, () => 0.5)).toBe(300);
    expect(backoffDelay(10, options, () => 0)).toBe(500);
    expect(backoffDelay(10, options, () => 0.999999)).toBeCloseTo(1000, 3);
    expect(backoffDelay(10_000, options, () => 1)).toBe(1000);
  });

  it("spreads callers that failed together", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(2, options)));
    expect(delays.size).toBeGreaterThan(1);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThan(200);
    }
  });
});

describe("describeError", () => {
  it("gives one bounded line for anything thrown", () => {
    expect(describeError(new TypeError("bad\n  input"))).toBe("TypeError: bad input");
    expect(describeError("plain string")).toBe("plain string");
    expect(describeError(new Error(""))).toBe("unknown error");
    expect(describeError(new Error("x".repeat(2000)))).toHaveLength(512);
  });
});
