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

describe("governance events of endpoint circuit changes", () => {
  const OPENED = "2030-01-01T00:05:00.000Z";
  const circuit = (overrides: Record<string, unknown> = {}) => ({
    type: "ENDPOINT_CIRCUIT",
    agent_id: "a1",
    endpoint: "https://agent.example/bids",
    state: "CLOSED",
    consecutive_failures: 1,
    last_error: "HTTP 503",
    last_failure_at: AT,
    updated_at: AT,
    ...overrides,
  });
  const open = (overrides: Record<string, unknown> = {}) =>
    circuit({
      state: "OPEN",
      consecutive_failures: 3,
      opened_at: OPENED,
      open_until: "2030-01-01T00:10:00.000Z",
      updated_at: OPENED,
      ...overrides,
    });
  const events = (oldImage: Record<string, unknown> | undefined, newImage: Record<string, unknown>) =>
    governanceEventsOf({
      eventName: oldImage ? "MODIFY" : "INSERT",
      ...(oldImage ? { oldImage } : {}),
      newImage,
      approximateAt: AT,
    });

  it("counting failures and claiming a trial are not events", () => {
    expect(events(undefined, circuit())).toEqual([]);
    expect(events(circuit(), circuit({ consecutive_failures: 2 }))).toEqual([]);
    expect(events(open(), open({ trial_until: "2030-01-01T00:10:30.000Z" }))).toEqual([]);
    expect(events(open(), open({ consecutive_failures: 4 }))).toEqual([]);
  });

  it("CLOSED → OPEN is an opening keyed by agent and opening time", () => {
    expect(events(circuit({ consecutive_failures: 3 }), open())).toEqual([
      {
        kind: "ENDPOINT_CIRCUIT",
        key: `circuit:a1#${OPENED}#opened`,
        agent_id: "a1",
        endpoint: "https://agent.example/bids",
        change: "opened",
        delivered: false,
        previous_endpoint: null,
        consecutive_failures: 3,
        open_until: "2030-01-01T00:10:00.000Z",
        last_error: "HTTP 503",
        at: OPENED,
      },
    ]);
  });

  it("a failed trial re-opens it under a new key; a close is keyed by the opening it ends", () => {
    const again = "2030-01-01T00:10:03.000Z";
    expect(events(open(), open({ opened_at: again, consecutive_failures: 4 }))).toMatchObject([
      { change: "reopened", key: `circuit:a1#${again}#reopened`, at: again },
    ]);
    const closedAt = "2030-01-01T00:10:01.000Z";
    expect(
      events(open(), circuit({ consecutive_failures: 0, opened_at: OPENED, updated_at: closedAt })),
    ).toMatchObject([
      {
        change: "closed",
        key: `circuit:a1#${OPENED}#closed`,
        delivered: true,
        previous_endpoint: null,
        open_until: null,
        at: closedAt,
      },
    ]);
  });

  it("closed by a failure on a changed endpoint: not delivered, names the endpoint before", () => {
    const moved = circuit({
      endpoint: "https://agent.example/v2",
      consecutive_failures: 1,
      updated_at: OPENED,
    });
    expect(events(open(), moved)).toMatchObject([
      {
        change: "closed",
        key: `circuit:a1#${OPENED}#closed`,
        delivered: false,
        endpoint: "https://agent.example/v2",
        previous_endpoint: "https://agent.example/bids",
      },
    ]);
  });

  it("keeps hostile free text with control characters replaced, and refuses a bad key or an opening without a time", () => {
    const [event] = events(circuit(), open({ last_error: "bad\u0000\u0001gateway\n" }));
    expect(event).toMatchObject({ last_error: "bad?gateway?" });
    expect(() => events(circuit(), open({ agent_id: "a\u00001" }))).toThrow(MalformedChangeError);
    expect(() => events(circuit(), open({ opened_at: undefined }))).toThrow(MalformedChangeError);
  });
});
