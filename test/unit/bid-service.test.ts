import { describe, expect, it } from "vitest";
import { type BidServiceOptions, createBidService } from "../../src/domain/bidding/bid.service.js";
import type { BidRejection } from "../../src/domain/bidding/bidding.types.js";
import { sealMessage, signBody } from "../../src/domain/bidding/signing.js";
import { ConflictError, NotFoundError } from "../../src/domain/errors.js";
import type { Bid, TaskRecord } from "../../src/domain/tasks/task.types.js";
import type { NonceClaim } from "../../src/ports/nonce-store.js";

const TASK_ID = "https://github.com/octo-org/octo-repo/issues/9";
const SECRET = "agent-a-secret";
const SENT_AT = "2025-07-01T12:01:00.000Z";

/**
 * In-memory stand-ins for the ports, enough to pin down the service's order of checks and its error
 * handling. The DynamoDB behaviour behind them is covered by test/integration/bid-worker.int.test.ts.
 */
function harness(
  options: {
    bids?: Partial<Bid>[];
    awardIfDue?: () => Promise<void>;
    accept?: () => Promise<void>;
    previous?: { secret: string; valid_until: string };
  } = {},
) {
  const record: TaskRecord = {
    task: {
      type: "TASK",
      task_id: TASK_ID,
      title: "t",
      status: "OPEN",
      required_capabilities: ["python"],
      budget: 100,
      bid_deadline: "2025-07-01T12:05:00.000Z",
      version: 1,
      created_at: "2025-07-01T12:00:00.000Z",
      updated_at: "2025-07-01T12:00:00.000Z",
    },
    bids: (options.bids ?? [{}]).map((b) => ({
      type: "BID",
      task_id: TASK_ID,
      agent_id: "agent-a",
      status: "INVITED",
      invited_at: "2025-07-01T12:00:01.000Z",
      delivery_status: "DELIVERED",
      updated_at: "2025-07-01T12:00:01.000Z",
      ...b,
    })),
    ledger: [],
    rejections: [],
  };
  const rejections: Omit<BidRejection, "type">[] = [];
  const calls: string[] = [];
  const claimed = new Map<string, string>();
  const claims: Array<{ nonce: string; expires_at: number }> = [];
  const secrets: Record<string, string> = { "agent-a": SECRET, "agent-b": "agent-b-secret" };
  const claimNonce = ({ agent_id, nonce, message_id, expires_at }: NonceClaim): boolean => {
    claims.push({ nonce, expires_at });
    const key = `${agent_id}#${nonce}`;
    const owner = claimed.get(key);
    if (owner !== undefined && owner !== message_id) return false;
    claimed.set(key, message_id);
    return true;
  };
  const nonceFree = ({ agent_id, nonce, message_id }: NonceClaim): boolean => {
    const owner = claimed.get(`${agent_id}#${nonce}`);
    return owner === undefined || owner === message_id;
  };
  /**
   * As the repository's conditional write does: REPLAY first, then the task (missing: NotFoundError;
   * not OPEN, LATE, OVER_BUDGET), the bid item (NOT_INVITED, not newer: SUPERSEDED); a refusal
   * carries the state read after it. Only a write that passes every condition claims the nonce.
   */
  const answer = (
    taskId: string,
    agentId: string,
    fields: { sent_at: string; message_sent_at?: string; bid_amount?: number; enforce_limits?: boolean },
    nonce: NonceClaim | undefined,
  ) => {
    if (nonce && !nonceFree(nonce)) throw new ConflictError("REPLAY: used", { reason: "REPLAY" });
    if (taskId !== TASK_ID) throw new NotFoundError("task", taskId);
    const { task } = record;
    const stored = record.bids.find((b) => b.agent_id === agentId);
    const state = { task, bids: stored ? [stored] : [] };
    const refuse = (reason: string): never => {
      throw new ConflictError(`${reason}: refused`, { reason, state });
    };
    if (task.status !== "OPEN") refuse("BIDDING_CLOSED");
    if (fields.enforce_limits && task.bid_deadline && fields.sent_at > task.bid_deadline) refuse("LATE");
    if (
      fields.enforce_limits &&
      fields.bid_amount !== undefined &&
      fields.bid_amount > (task.budget ?? Infinity)
    ) {
      refuse("OVER_BUDGET");
    }
    if (!stored) refuse("NOT_INVITED");
    if (
      stored?.message_sent_at &&
      fields.message_sent_at &&
      stored.message_sent_at >= fields.message_sent_at
    ) {
      refuse("SUPERSEDED");
    }
    if (nonce) claimNonce(nonce);
  };
  const deps: BidServiceOptions = {
    agents: {
      getVerificationSecrets: async (id) => {
        const current = secrets[id];
        return current === undefined
          ? undefined
          : { current, ...(options.previous ? { previous: options.previous } : {}) };
      },
    },
    nonces: { claim: async (claim) => claimNonce(claim) },
    bidding: {
      getBiddingState: async (id: string, agentId?: string) =>
        id === TASK_ID
          ? { task: record.task, bids: record.bids.filter((b) => b.agent_id === agentId) }
          : undefined,
      // As the repository does: the nonce is claimed in the answer's own transaction.
      acceptBid:
        options.accept ??
        (async (taskId, agentId, b) => {
          answer(taskId, agentId, b, b.nonce);
          calls.push(`accept ${b.bid_amount}`);
        }),
      declineBid: async (taskId, agentId, sentAt, signed) => {
        answer(taskId, agentId, { sent_at: sentAt, ...signed }, signed?.nonce);
        calls.push("decline");
      },
      recordRejection: async (r) => {
        rejections.push(r);
      },
      recordCostReport: async (_t, agentId) => {
        if (agentId !== "agent-a") throw new ConflictError("NOT_AWARDED: no", { reason: "NOT_AWARDED" });
        calls.push("cost");
      },
    },
    awards: {
      awardIfDue:
        options.awardIfDue ??
        (async (id) => {
          calls.push(`award? ${id}`);
        }),
    },
    now: () => new Date("2025-07-01T12:02:00.000Z"),
  };
  return { service: createBidService(deps), rejections, calls, claims };
}

let sequence = 0;

/** A protocol v2 message sealed at `at`, as the queue accepted it at that same instant. */
function signed(message: Record<string, unknown>, secret = SECRET, at = SENT_AT) {
  const { body, signature } = sealMessage(message, secret, { now: new Date(at) });
  sequence += 1;
  return { body, signature, messageId: `m-${sequence}`, sentAt: at };
}

const bid = (overrides: Record<string, unknown> = {}) => ({
  type: "BID",
  task_id: TASK_ID,
  agent_id: "agent-a",
  bid_amount: 80,
  estimated_completion_sec: 3600,
  ...overrides,
});

describe("bid service", () => {
  it("stores a valid bid, then asks for an early award", async () => {
    const { service, calls, rejections } = harness();

    const receipt = await service.receive(signed(bid()));

    expect(receipt).toEqual({
      status: "accepted",
      task_id: TASK_ID,
      agent_id: "agent-a",
      message_type: "BID",
    });
    expect(calls).toEqual(["accept 80", `award? ${TASK_ID}`]);
    expect(rejections).toEqual([]);
  });

  it("stores a decline, then asks for an early award", async () => {
    const { service, calls } = harness();

    const receipt = await service.receive(signed({ type: "DECLINE", task_id: TASK_ID, agent_id: "agent-a" }));

    expect(receipt.status).toBe("declined");
    expect(calls).toEqual(["decline", `award? ${TASK_ID}`]);
  });

  it("a failing early award does not fail the stored bid", async () => {
    const { service } = harness({ awardIfDue: () => Promise.reject(new Error("throttled")) });

    const receipt = await service.receive(signed(bid()));

    expect(receipt).toMatchObject({ status: "accepted", award_error: "Error: throttled" });
  });

  it("records a rejection on the task as `<REASON>: <detail>`, keyed by the SQS message and time", async () => {
    const { service, rejections, calls } = harness();

    const receipt = await service.receive(signed(bid({ bid_amount: 150 })));

    expect(receipt).toEqual({
      status: "rejected",
      reason: "OVER_BUDGET",
      detail: "bid 150 is over the budget 100",
      authenticated: true,
      recorded: true,
      task_id: TASK_ID,
      agent_id: "agent-a",
      message_type: "BID",
    });
    expect(rejections).toEqual([
      {
        task_id: TASK_ID,
        received_at: SENT_AT,
        message_id: expect.stringMatching(/^m-\d+$/),
        agent_id: "agent-a",
        message_type: "BID",
        reason: "OVER_BUDGET: bid 150 is over the budget 100",
      },
    ]);
    expect(calls).toEqual([]);
  });

  it.each([
    ["MALFORMED (no agent_id) before anything else", { ...signed(bid({ agent_id: "bad id" })) }, "MALFORMED"],
    [
      "UNKNOWN_AGENT before the signature",
      { ...signed(bid({ agent_id: "ghost" })), signature: undefined },
      "UNKNOWN_AGENT",
    ],
    ["UNSIGNED", { ...signed(bid()), signature: undefined }, "UNSIGNED"],
    ["UNSIGNED for an empty attribute", { ...signed(bid()), signature: "" }, "UNSIGNED"],
    ["BAD_SIGNATURE with another secret", signed(bid(), "other-secret"), "BAD_SIGNATURE"],
    ["BAD_SIGNATURE before MALFORMED", signed(bid({ bid_amount: -1 }), "x"), "BAD_SIGNATURE"],
    [
      "BAD_SIGNATURE before LATE or OVER_BUDGET",
      signed(bid({ bid_amount: 150 }), "x", "2030-01-01T00:00:00.000Z"),
      "BAD_SIGNATURE",
    ],
  ])("%s: refused, and nothing is recorded", async (_, input, reason) => {
    const { service, rejections, calls } = harness();

    const receipt = await service.receive(input);

    expect(receipt).toMatchObject({ status: "rejected", reason, authenticated: false, recorded: false });
    expect(rejections).toEqual([]);
    expect(calls).toEqual([]);
  });

  it.each([
    ["MALFORMED for a signed body the schema refuses", signed(bid({ bid_amount: -1 })), "MALFORMED"],
    [
      "LATE for a signed bid sent after the deadline",
      signed(bid(), SECRET, "2030-01-01T00:00:00.000Z"),
      "LATE",
    ],
  ])("%s: recorded on the task", async (_, input, reason) => {
    const { service, rejections } = harness();

    const receipt = await service.receive(input);

    expect(receipt).toMatchObject({ status: "rejected", reason, authenticated: true, recorded: true });
    expect(rejections.map((r) => r.reason.split(":")[0])).toEqual([reason]);
  });

  it.each([
    ["301 s old", -301_000, "STALE"],
    ["301 s in the future", 301_000, "STALE"],
    ["300 s old", -300_000, "accepted"],
    ["300 s in the future", 300_000, "accepted"],
  ])("a message whose sent_at is %s: %s", async (_, offsetMs, outcome) => {
    const { service, rejections } = harness();
    const input = signed(bid(), SECRET, new Date(Date.parse(SENT_AT) + offsetMs).toISOString());

    const receipt = await service.receive({ ...input, sentAt: SENT_AT });

    if (outcome === "accepted") expect(receipt.status).toBe("accepted");
    else
      expect(receipt).toMatchObject({
        status: "rejected",
        reason: "STALE",
        authenticated: true,
        recorded: false,
      });
    expect(rejections).toEqual([]);
  });

  it("REPLAY for a second message with a used nonce; the same SQS message again is not one", async () => {
    const { service, rejections, calls } = harness();
    const input = signed(bid());

    const first = await service.receive(input);
    const redelivered = await service.receive(input);
    const replayed = await service.receive({ ...input, messageId: "another-sqs-message" });

    expect(first.status).toBe("accepted");
    expect(redelivered.status).toBe("accepted");
    expect(replayed).toMatchObject({ status: "rejected", reason: "REPLAY", recorded: false });
    expect(rejections).toEqual([]);
    expect(calls.filter((c) => c.startsWith("accept"))).toHaveLength(2);
  });

  it("a nonce claim outlives the skew window counted from the latest of sent_at, queue time and now", async () => {
    const { service, claims } = harness();

    await service.receive(signed(bid()));

    // The clock (12:02) is later than sent_at and the queue time (12:01): a late claim is kept longer.
    expect(claims.map((c) => c.expires_at)).toEqual([
      Date.parse("2025-07-01T12:02:00.000Z") / 1000 + 300 + 3600,
    ]);
  });

  it("refuses a record without an SQS message id, which the nonce claim relies on", async () => {
    const { service, calls, claims } = harness();

    const receipt = await service.receive({ ...signed(bid()), messageId: "" });

    expect(receipt).toMatchObject({ status: "rejected", reason: "MALFORMED", recorded: false });
    expect(calls).toEqual([]);
    expect(claims).toEqual([]);
  });

  it("the previous secret verifies until valid_until (exclusive), judged at the queue's time", async () => {
    const validUntil = "2025-07-01T12:01:30.000Z";
    const { service } = harness({ previous: { secret: "old-secret", valid_until: validUntil } });

    const inside = await service.receive(signed(bid(), "old-secret", "2025-07-01T12:01:29.999Z"));
    const atEnd = await service.receive(signed(bid(), "old-secret", validUntil));
    const current = await service.receive(signed(bid(), SECRET, validUntil));

    expect(inside.status).toBe("accepted");
    expect(atEnd).toMatchObject({ reason: "BAD_SIGNATURE", authenticated: false });
    expect(current.status).toBe("accepted");
  });

  it("NOT_INVITED when the agent has no bid item", async () => {
    const { service } = harness({ bids: [{ agent_id: "agent-z" }] });

    expect(await service.receive(signed(bid(), SECRET, "2030-01-01T00:00:00.000Z"))).toMatchObject({
      reason: "NOT_INVITED",
    });
  });

  it("verifies the signature over the exact raw body, not a re-serialisation", async () => {
    const { service } = harness();
    const message = { ...bid(), sent_at: SENT_AT, nonce: "exact-bytes-nonce-0001" };
    const body = JSON.stringify(message, null, 2);
    const compact = JSON.stringify({ ...message, nonce: "exact-bytes-nonce-0002" });

    expect(
      await service.receive({ body, signature: signBody(SECRET, body), messageId: "m", sentAt: SENT_AT }),
    ).toMatchObject({ status: "accepted" });
    expect(
      await service.receive({
        body: JSON.stringify({ ...message, nonce: "exact-bytes-nonce-0002" }, null, 2),
        signature: signBody(SECRET, compact),
        messageId: "m2",
        sentAt: SENT_AT,
      }),
    ).toMatchObject({ reason: "BAD_SIGNATURE" });
  });

  it("does not record UNKNOWN_TASK, nor MALFORMED messages that name no existing task", async () => {
    const { service, rejections } = harness();
    const other = "https://github.com/octo-org/octo-repo/issues/404";

    const receipts = [
      await service.receive(signed(bid({ task_id: other }))),
      await service.receive({ body: "{not json", messageId: "m", sentAt: SENT_AT }),
      await service.receive(signed({ ...bid({ task_id: other }), bid_amount: "x" })),
    ];

    expect(receipts).toEqual([
      expect.objectContaining({ reason: "UNKNOWN_TASK", authenticated: true, recorded: false }),
      {
        status: "rejected",
        reason: "MALFORMED",
        detail: "body is not JSON",
        authenticated: false,
        recorded: false,
      },
      expect.objectContaining({ reason: "MALFORMED", authenticated: true, recorded: false, task_id: other }),
    ]);
    expect(rejections).toEqual([]);
  });

  it("records a MALFORMED message that names an existing task", async () => {
    const { service, rejections } = harness();

    await service.receive(signed({ ...bid(), estimated_completion_sec: 1.5 }));

    expect(rejections).toEqual([
      expect.objectContaining({
        task_id: TASK_ID,
        agent_id: "agent-a",
        message_type: "BID",
        reason: "MALFORMED: estimated_completion_sec: must be a whole number of seconds",
      }),
    ]);
  });

  it("maps the write's BIDDING_CLOSED / NOT_INVITED conflicts (a race with the award) to rejections", async () => {
    const closed = harness({
      accept: () =>
        Promise.reject(
          new ConflictError(`BIDDING_CLOSED: task ${TASK_ID} is AWARDED`, { reason: "BIDDING_CLOSED" }),
        ),
    });

    expect(await closed.service.receive(signed(bid()))).toMatchObject({
      reason: "BIDDING_CLOSED",
      detail: `task ${TASK_ID} is AWARDED`,
    });
    expect(closed.calls).toEqual([]);
  });

  it("throws transient failures so SQS retries the message", async () => {
    const { service } = harness({ accept: () => Promise.reject(new Error("ProvisionedThroughputExceeded")) });

    await expect(service.receive(signed(bid()))).rejects.toThrow("ProvisionedThroughputExceeded");
  });

  it("COST_REPORT: stored for the awardee, NOT_AWARDED for anyone else", async () => {
    const { service, calls } = harness();
    const report = { type: "COST_REPORT", task_id: TASK_ID, agent_id: "agent-a", actual_cost: 42 };

    expect(await service.receive(signed(report))).toEqual({
      status: "cost_recorded",
      task_id: TASK_ID,
      agent_id: "agent-a",
      message_type: "COST_REPORT",
    });
    expect(await service.receive(signed({ ...report, agent_id: "agent-b" }, "agent-b-secret"))).toMatchObject(
      {
        status: "rejected",
        reason: "NOT_AWARDED",
        detail: "task is not awarded to agent agent-b",
        recorded: true,
      },
    );
    expect(calls).toEqual(["cost"]);
  });

  it("falls back to the clock when sentAt is not an instant", async () => {
    const { service, rejections } = harness();

    await service.receive({
      ...signed(bid({ bid_amount: 150 }), SECRET, "2025-07-01T12:02:00.000Z"),
      sentAt: "yesterday",
    });

    expect(rejections[0]?.received_at).toBe("2025-07-01T12:02:00.000Z");
  });
});
