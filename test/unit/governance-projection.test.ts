import { describe, expect, it } from "vitest";
import { governanceEventsOf, MalformedChangeError } from "../../src/domain/governance/projection.js";

const AT = "2030-01-01T00:00:00.000Z";
const TASK = "https://github.com/o/r/issues/7";

function profile(overrides: Record<string, unknown> = {}) {
  return {
    type: "AGENT_PROFILE",
    agent_id: "a1",
    capabilities: new Set(["python"]),
    bidding_endpoint: "https://agent.example/bids",
    endpoint_kind: "https",
    status: "active",
    kill_switch_active: false,
    performance_totals: { outcomes: 0, successes: 0, quality_micros: 0 },
    version: 1,
    updated_at: AT,
    ...overrides,
  };
}

const bid = (overrides: Record<string, unknown> = {}) => ({
  type: "BID",
  task_id: TASK,
  agent_id: "a1",
  status: "ACCEPTED",
  bid_amount: 120.5,
  estimated_completion_sec: 600,
  answered_at: AT,
  sent_at: AT,
  ...overrides,
});

const award = (overrides: Record<string, unknown> = {}) => ({
  type: "AWARD",
  task_id: TASK,
  agent_id: "a1",
  bid_amount: 120.5,
  status: "AWARDED",
  awarded_at: AT,
  ...overrides,
});

describe("governance events of table changes", () => {
  it("a new profile is a registration keyed by agent and version", () => {
    const [event] = governanceEventsOf({ eventName: "INSERT", newImage: profile(), approximateAt: AT });
    expect(event).toMatchObject({
      kind: "AGENT",
      key: "agent:a1:v1",
      registered: true,
      changed: [],
      snapshot: { agent_id: "a1", profile_version: 1, kill_switch_active: false },
      profileTrust: { trust_score: null, audit_level: null },
    });
  });

  it("a kill switch flip carries who did it and why", () => {
    const [event] = governanceEventsOf({
      eventName: "MODIFY",
      oldImage: profile(),
      newImage: profile({
        version: 2,
        kill_switch_active: true,
        kill_switch_changed_by: "api:alice",
        kill_switch_reason: "runaway costs",
      }),
      approximateAt: AT,
    });
    expect(event).toMatchObject({
      kind: "AGENT",
      key: "agent:a1:v2",
      registered: false,
      killSwitch: { active: true, actor: "api:alice", reason: "runaway costs" },
    });
  });

  it("names changed registration fields, including capabilities stored as a set", () => {
    const [event] = governanceEventsOf({
      eventName: "MODIFY",
      oldImage: profile(),
      newImage: profile({ version: 2, capabilities: new Set(["python", "rust"]), status: "suspended" }),
      approximateAt: AT,
    });
    expect(event).toMatchObject({ changed: ["status", "capabilities"] });
  });

  it("ignores governance's own trust write-back (same version)", () => {
    expect(
      governanceEventsOf({
        eventName: "MODIFY",
        oldImage: profile({ version: 3 }),
        newImage: profile({ version: 3, trust_score: 59, audit_level: "Silver" }),
        approximateAt: AT,
      }),
    ).toEqual([]);
  });

  it("a new answer is a bid event; notice bookkeeping on the same answer is not", () => {
    const [accepted] = governanceEventsOf({
      eventName: "MODIFY",
      oldImage: bid({ status: "INVITED", answered_at: undefined, sent_at: undefined }),
      newImage: bid(),
      approximateAt: AT,
    });
    expect(accepted).toMatchObject({ kind: "BID_ACCEPTED", key: `bid:${TASK}#a1#${AT}`, bid_amount: 120.5 });
    expect(
      governanceEventsOf({
        eventName: "MODIFY",
        oldImage: bid(),
        newImage: bid({ notice: "AWARD", notice_status: "DELIVERED" }),
        approximateAt: AT,
      }),
    ).toEqual([]);
    const [declined] = governanceEventsOf({
      eventName: "MODIFY",
      oldImage: bid(),
      newImage: bid({ status: "DECLINED", sent_at: "2030-01-01T00:00:05.000Z" }),
      approximateAt: AT,
    });
    expect(declined).toMatchObject({ kind: "BID_DECLINED" });
  });

  it("a refused message is a bid rejection whose agent is only claimed", () => {
    const [event] = governanceEventsOf({
      eventName: "INSERT",
      newImage: {
        type: "BID_REJECTION",
        task_id: TASK,
        received_at: AT,
        message_id: "m-1",
        agent_id: "mallory",
        message_type: "BID",
        reason: "BAD_SIGNATURE: does not verify",
        expires_at: 1,
      },
      approximateAt: AT,
    });
    expect(event).toMatchObject({
      kind: "BID_REJECTED",
      key: `rejection:${TASK}#${AT}#m-1`,
      agent_id: "mallory",
    });
  });

  it("awards: held, approved, and a cost report are separate events", () => {
    const [held] = governanceEventsOf({
      eventName: "INSERT",
      newImage: award({ status: "PENDING_APPROVAL", approval_reason: "BRONZE_TIER: trust score 30" }),
      approximateAt: AT,
    });
    expect(held).toMatchObject({
      kind: "AWARD",
      status: "PENDING_APPROVAL",
      key: `award:${TASK}#a1#PENDING_APPROVAL`,
    });
    const [approved] = governanceEventsOf({
      eventName: "MODIFY",
      oldImage: award({ status: "PENDING_APPROVAL" }),
      newImage: award(),
      approximateAt: AT,
    });
    expect(approved).toMatchObject({ kind: "AWARD", status: "AWARDED", key: `award:${TASK}#a1#AWARDED` });
    const events = governanceEventsOf({
      eventName: "MODIFY",
      oldImage: award(),
      newImage: award({ actual_cost: 99.25 }),
      approximateAt: AT,
    });
    expect(events).toEqual([
      {
        kind: "COST_REPORTED",
        key: `cost:${TASK}#a1#99.25`,
        task_id: TASK,
        agent_id: "a1",
        actual_cost: 99.25,
        at: AT,
      },
    ]);
  });

  it("a ledger entry is an outcome keyed by task and completion time", () => {
    const [event] = governanceEventsOf({
      eventName: "INSERT",
      newImage: {
        type: "TASK_LEDGER_ENTRY",
        task_id: TASK,
        winning_agent_id: "a1",
        bid_amount: 120.5,
        actual_cost: 99.25,
        status: "SUCCESS",
        quality_score: 0.9,
        completion_timestamp: AT,
        recorded_at: AT,
      },
      approximateAt: AT,
    });
    expect(event).toMatchObject({
      kind: "LEDGER_OUTCOME",
      key: `ledger:${TASK}#${AT}`,
      status: "SUCCESS",
      supersedes: null,
    });
  });

  it("ignores removals and item types governance does not follow", () => {
    expect(governanceEventsOf({ eventName: "REMOVE", oldImage: award(), approximateAt: AT })).toEqual([]);
    expect(
      governanceEventsOf({ eventName: "INSERT", newImage: { type: "CAPABILITY_EDGE" }, approximateAt: AT }),
    ).toEqual([]);
  });

  it("refuses a followed item that lacks the documented fields", () => {
    expect(() =>
      governanceEventsOf({
        eventName: "INSERT",
        newImage: { type: "AWARD", task_id: TASK },
        approximateAt: AT,
      }),
    ).toThrow(MalformedChangeError);
  });
});
