import { describe, expect, it } from "vitest";
import { checkAnswer, conflictReason, parseAgentMessage } from "../../src/domain/bidding/bid.service.js";
import type { BidMessage, DeclineMessage } from "../../src/domain/bidding/messages.js";
import { ConflictError, NotFoundError } from "../../src/domain/errors.js";
import type { Bid, Task } from "../../src/domain/tasks/task.types.js";

const TASK_ID = "https://github.com/octo-org/octo-repo/issues/7";
const DEADLINE = "2025-07-01T12:05:00.000Z";

const task = (overrides: Partial<Task> = {}): Task => ({
  type: "TASK",
  task_id: TASK_ID,
  title: "Fix the flaky test",
  status: "OPEN",
  required_capabilities: ["python"],
  budget: 100,
  bid_deadline: DEADLINE,
  version: 1,
  created_at: "2025-07-01T12:00:00.000Z",
  updated_at: "2025-07-01T12:00:00.000Z",
  ...overrides,
});

const bidItem = (overrides: Partial<Bid> = {}): Bid => ({
  type: "BID",
  task_id: TASK_ID,
  agent_id: "agent-a",
  status: "INVITED",
  invited_at: "2025-07-01T12:00:01.000Z",
  delivery_status: "DELIVERED",
  updated_at: "2025-07-01T12:00:01.000Z",
  ...overrides,
});

const ENVELOPE = { sent_at: "2025-07-01T12:01:00.000Z", nonce: "nonce-for-unit-tests-1" };

const bid = (overrides: Partial<BidMessage> = {}): BidMessage => ({
  type: "BID",
  task_id: TASK_ID,
  agent_id: "agent-a",
  bid_amount: 80,
  estimated_completion_sec: 3600,
  ...ENVELOPE,
  ...overrides,
});

const decline: DeclineMessage = { type: "DECLINE", task_id: TASK_ID, agent_id: "agent-a", ...ENVELOPE };
const ON_TIME = "2025-07-01T12:01:00.000Z";

describe("parseAgentMessage", () => {
  it("accepts each of the three message kinds", () => {
    for (const message of [
      bid(),
      decline,
      { type: "COST_REPORT", task_id: TASK_ID, agent_id: "agent-a", actual_cost: 12.5, ...ENVELOPE },
    ]) {
      expect(parseAgentMessage(JSON.stringify(message))).toEqual({ ok: true, message });
    }
  });

  it("reports a body that is not JSON, with nothing to attribute it to", () => {
    expect(parseAgentMessage("{not json")).toEqual({ ok: false, detail: "body is not JSON" });
  });

  it("keeps the well-formed task, agent and type of a message that fails the schema", () => {
    const parsed = parseAgentMessage(JSON.stringify({ ...bid(), bid_amount: "ten" }));

    expect(parsed).toMatchObject({ ok: false, task_id: TASK_ID, agent_id: "agent-a", message_type: "BID" });
    expect(parsed.ok ? "" : parsed.detail).toMatch(/^bid_amount: /);
  });

  it("drops claims that are not well-formed ids", () => {
    const parsed = parseAgentMessage(
      JSON.stringify({ type: "BID", task_id: "https://example.com/nope", agent_id: "has space" }),
    );

    expect(parsed).toEqual({ ok: false, detail: expect.any(String), message_type: "BID" });
  });

  it("protocol v2: refuses a message without sent_at or nonce, or with malformed ones", () => {
    const { sent_at: _s, ...noSentAt } = bid();
    const { nonce: _n, ...noNonce } = bid();
    expect(parseAgentMessage(JSON.stringify(noSentAt))).toMatchObject({ ok: false, detail: /^sent_at: / });
    expect(parseAgentMessage(JSON.stringify(noNonce))).toMatchObject({ ok: false, detail: /^nonce: / });
    for (const sent_at of ["2025-07-01T12:01:00+02:00", "2025-07-01 12:01:00Z", "2025-02-30T00:00:00Z", ""]) {
      expect(parseAgentMessage(JSON.stringify(bid({ sent_at }))).ok, sent_at).toBe(false);
    }
    for (const nonce of [
      "short-nonce",
      "x".repeat(129),
      "nonce with spaces 123",
      "nonce\u0000nonce-nonce-nonce",
    ]) {
      expect(parseAgentMessage(JSON.stringify(bid({ nonce }))).ok, nonce).toBe(false);
    }
    expect(parseAgentMessage(JSON.stringify(bid({ nonce: "x".repeat(128) }))).ok).toBe(true);
    expect(parseAgentMessage(JSON.stringify(bid({ nonce: "0123456789abcdef" }))).ok).toBe(true);
  });

  it("never keeps a message type with control characters, and bounds the detail", () => {
    const parsed = parseAgentMessage(JSON.stringify({ ...bid(), type: "\u0000", ["\u0001".repeat(500)]: 1 }));

    expect(parsed).toMatchObject({ ok: false, task_id: TASK_ID, agent_id: "agent-a" });
    expect(parsed).not.toHaveProperty("message_type");
    expect(parsed.ok ? "" : parsed.detail).not.toMatch(/\p{Cc}/u);
    expect((parsed.ok ? "" : parsed.detail).length).toBeLessThanOrEqual(400);
  });

  it("refuses unknown fields and unknown types", () => {
    expect(parseAgentMessage(JSON.stringify({ ...bid(), extra: 1 })).ok).toBe(false);
    expect(parseAgentMessage(JSON.stringify({ ...bid(), type: "OFFER" }))).toMatchObject({
      ok: false,
      message_type: "OFFER",
    });
    expect(parseAgentMessage("[]")).toMatchObject({ ok: false });
    expect(parseAgentMessage("null")).toMatchObject({ ok: false });
  });
});

describe("checkAnswer", () => {
  const record = (t: Partial<Task> = {}, bids: Bid[] = [bidItem()]) => ({ task: task(t), bids });

  it("lets a fresh, on-time, in-budget bid or decline through", () => {
    expect(checkAnswer(bid(), record(), ON_TIME)).toBeUndefined();
    expect(checkAnswer(decline, record(), ON_TIME)).toBeUndefined();
  });

  it("NOT_INVITED without a bid item for the agent", () => {
    expect(checkAnswer(bid({ agent_id: "agent-b" }), record(), ON_TIME)?.reason).toBe("NOT_INVITED");
  });

  it("LATE only after the deadline: a message sent exactly at it is on time", () => {
    expect(checkAnswer(bid(), record(), DEADLINE)).toBeUndefined();
    expect(checkAnswer(bid(), record(), "2025-07-01T12:05:00.001Z")).toEqual({
      reason: "LATE",
      detail: `sent at 2025-07-01T12:05:00.001Z, after the bid deadline ${DEADLINE}`,
    });
    expect(checkAnswer(decline, record(), "2025-07-01T13:00:00.000Z")?.reason).toBe("LATE");
  });

  it("no deadline on the task means no LATE", () => {
    expect(
      checkAnswer(bid(), record({ bid_deadline: undefined }), "2099-01-01T00:00:00.000Z"),
    ).toBeUndefined();
  });

  it("OVER_BUDGET above the budget, not at it; no budget means no cap", () => {
    expect(checkAnswer(bid({ bid_amount: 100 }), record(), ON_TIME)).toBeUndefined();
    expect(checkAnswer(bid({ bid_amount: 100.01 }), record(), ON_TIME)?.reason).toBe("OVER_BUDGET");
    expect(checkAnswer(bid({ bid_amount: 10_000 }), record({ budget: undefined }), ON_TIME)).toBeUndefined();
  });

  it("DUPLICATE when the stored answer is already this one; a different bid replaces it", () => {
    const stored = bidItem({ status: "ACCEPTED", bid_amount: 80, estimated_completion_sec: 3600 });

    expect(checkAnswer(bid(), record({}, [stored]), ON_TIME)?.reason).toBe("DUPLICATE");
    expect(checkAnswer(bid({ bid_amount: 70 }), record({}, [stored]), ON_TIME)).toBeUndefined();
    expect(checkAnswer(bid({ estimated_completion_sec: 60 }), record({}, [stored]), ON_TIME)).toBeUndefined();
    expect(checkAnswer(decline, record({}, [stored]), ON_TIME)).toBeUndefined();
    expect(checkAnswer(decline, record({}, [bidItem({ status: "DECLINED" })]), ON_TIME)?.reason).toBe(
      "DUPLICATE",
    );
  });

  it("BIDDING_CLOSED once the task is no longer OPEN", () => {
    expect(checkAnswer(bid(), record({ status: "AWARDED" }), ON_TIME)).toEqual({
      reason: "BIDDING_CLOSED",
      detail: "task is AWARDED",
    });
  });

  it("checks in order: NOT_INVITED, LATE, OVER_BUDGET, DUPLICATE, BIDDING_CLOSED", () => {
    const late = "2025-07-01T13:00:00.000Z";
    const closed = { status: "AWARDED" as const };
    const stored = bidItem({ status: "ACCEPTED", bid_amount: 500, estimated_completion_sec: 3600 });

    expect(checkAnswer(bid({ agent_id: "x", bid_amount: 500 }), record(closed), late)?.reason).toBe(
      "NOT_INVITED",
    );
    expect(checkAnswer(bid({ bid_amount: 500 }), record(closed, [stored]), late)?.reason).toBe("LATE");
    expect(checkAnswer(bid({ bid_amount: 500 }), record(closed, [stored]), ON_TIME)?.reason).toBe(
      "OVER_BUDGET",
    );
    expect(
      checkAnswer(bid({ bid_amount: 500 }), record({ ...closed, budget: 1000 }, [stored]), ON_TIME)?.reason,
    ).toBe("DUPLICATE");
  });
});

describe("conflictReason", () => {
  it("reads details.reason, else the message prefix, and ignores everything else", () => {
    expect(
      conflictReason(new ConflictError("BIDDING_CLOSED: task is AWARDED", { reason: "BIDDING_CLOSED" })),
    ).toBe("BIDDING_CLOSED");
    expect(conflictReason(new ConflictError("NOT_INVITED: agent a was not invited"))).toBe("NOT_INVITED");
    expect(conflictReason(new ConflictError("Task already has an award"))).toBeUndefined();
    expect(conflictReason(new NotFoundError("task", TASK_ID))).toBeUndefined();
    expect(conflictReason(new Error("NOT_AWARDED: plain error"))).toBeUndefined();
  });
});
