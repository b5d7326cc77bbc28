import { describe, expect, it } from "vitest";
import type { AgentListing, AgentProfile } from "../../src/domain/agents/agent.types.js";
import { deriveHistory, ZERO_TOTALS } from "../../src/domain/agents/performance.js";
import type { DeliveryResult } from "../../src/domain/bidding/bidding.types.js";
import { createDispatchService } from "../../src/domain/bidding/dispatch.service.js";
import type { MarketplaceMessage } from "../../src/domain/bidding/messages.js";
import { NonRetryableError } from "../../src/domain/bidding/retry.js";
import { NotFoundError } from "../../src/domain/errors.js";
import type { Bid, Task } from "../../src/domain/tasks/task.types.js";
import type { AgentRepository } from "../../src/ports/agent-repository.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import type { AgentEndpoint, EndpointSender } from "../../src/ports/endpoint-sender.js";
import type { TaskRepository } from "../../src/ports/task-repository.js";

/*
 * In-memory stand-ins for the ports, so these tests pin down the dispatch rules themselves
 * (selection, idempotence, concurrency, retries). The same rules run against DynamoDB Local and
 * real queues in test/integration/dispatch.int.test.ts.
 */

const NOW = new Date("2025-07-01T12:00:00Z");
const TASK_ID = "https://github.com/octo-org/octo-repo/issues/7";
const BIDS_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-bids";

function profile(
  agent_id: string,
  capabilities: string[],
  overrides: Partial<AgentProfile> = {},
): AgentProfile {
  return {
    type: "AGENT_PROFILE",
    agent_id,
    capabilities,
    cost_model: "green",
    bidding_endpoint: `https://sqs.us-east-1.amazonaws.com/123456789012/${agent_id}`,
    endpoint_kind: "sqs",
    status: "active",
    kill_switch_active: false,
    performance_history: deriveHistory(ZERO_TOTALS),
    performance_totals: { ...ZERO_TOTALS },
    version: 1,
    created_at: NOW.toISOString(),
    updated_at: NOW.toISOString(),
    ...overrides,
  };
}

function task(overrides: Partial<Task> = {}): Task {
  return {
    type: "TASK",
    task_id: TASK_ID,
    title: "Fix the flaky test",
    status: "OPEN",
    required_capabilities: ["python", "sql"],
    bid_deadline: "2025-07-01T12:05:00.000Z",
    version: 1,
    created_at: NOW.toISOString(),
    updated_at: NOW.toISOString(),
    ...overrides,
  };
}

interface World {
  task?: Task;
  bids: Map<string, Bid>;
  profiles: AgentProfile[];
  /** What the capability index returns; defaults to the listed profiles (it may be stale). */
  listings?: AgentListing[];
  secrets: Map<string, string>;
}

function fakes(world: World) {
  const queried: string[] = [];
  const pages: number[] = [];
  const agents: Pick<AgentRepository, "listedCounts" | "findByCapability" | "getProfiles" | "getSecret"> = {
    async listedCounts(capabilities) {
      const listed = world.profiles.filter((p) => p.status === "active" && !p.kill_switch_active);
      return new Map(capabilities.map((c) => [c, listed.filter((p) => p.capabilities.includes(c)).length]));
    },
    async findByCapability(capability, page = {}) {
      queried.push(capability);
      const all = (
        world.listings ?? world.profiles.filter((p) => p.status === "active" && !p.kill_switch_active)
      ).filter((l) => l.capabilities.includes(capability));
      const start = Number(page.cursor ?? 0);
      const limit = page.limit ?? 25;
      pages.push(limit);
      const items = all.slice(start, start + limit);
      return start + limit < all.length ? { items, cursor: String(start + limit) } : { items };
    },
    async getProfiles(ids) {
      if (ids.length > 100) throw new Error("BatchGetItem takes at most 100 keys");
      return new Map(world.profiles.filter((p) => ids.includes(p.agent_id)).map((p) => [p.agent_id, p]));
    },
    async getSecret(id) {
      return world.secrets.get(id);
    },
  };
  const deliveries: Array<{ agent_id: string; result: DeliveryResult }> = [];
  const bidding: Pick<BiddingRepository, "invite" | "recordDelivery"> = {
    async invite(taskId, ids) {
      const fresh = ids.filter((id) => !world.bids.has(id));
      for (const agent_id of fresh) {
        world.bids.set(agent_id, {
          type: "BID",
          task_id: taskId,
          agent_id,
          status: "INVITED",
          invited_at: NOW.toISOString(),
          delivery_status: "PENDING",
          updated_at: NOW.toISOString(),
        });
      }
      return fresh;
    },
    async recordDelivery(_taskId, agent_id, result) {
      deliveries.push({ agent_id, result });
      const bid = world.bids.get(agent_id);
      if (bid) {
        bid.delivery_status = result.ok ? "DELIVERED" : "FAILED";
        bid.delivery_attempts = result.attempts;
      }
    },
  };
  const tasks: Pick<TaskRepository, "getTaskRecord"> = {
    async getTaskRecord(_id, options) {
      if (!options?.consistent) throw new Error("dispatch must read the task consistently");
      if (!world.task) return undefined;
      return {
        task: world.task,
        bids: [...world.bids.values()].map((b) => ({ ...b })),
        ledger: [],
        rejections: [],
      };
    },
  };
  return { agents, bidding, tasks, queried, pages, deliveries };
}

/** A sender that records every attempt and fails per agent as told. */
function recordingSender(
  behaviour: (endpoint: AgentEndpoint, attempt: number) => Promise<void> = async () => {},
) {
  const sent: Array<{ agent_id: string; message: MarketplaceMessage; secret: string }> = [];
  const attempts = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const sender: EndpointSender = {
    async send(endpoint, message, secret) {
      const n = (attempts.get(endpoint.agent_id) ?? 0) + 1;
      attempts.set(endpoint.agent_id, n);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await behaviour(endpoint, n);
        sent.push({ agent_id: endpoint.agent_id, message, secret });
      } finally {
        inFlight -= 1;
      }
    },
  };
  return { sender, sent, attempts, maxInFlight: () => maxInFlight };
}

function setup(
  world: Partial<World> & { profiles: AgentProfile[] },
  sender = recordingSender(),
  concurrency?: number,
) {
  const full: World = {
    task: task(),
    bids: new Map(),
    secrets: new Map(world.profiles.map((p) => [p.agent_id, `secret-of-${p.agent_id}`])),
    ...world,
  };
  const f = fakes(full);
  const service = createDispatchService({
    agents: f.agents as AgentRepository,
    bidding: f.bidding as BiddingRepository,
    tasks: f.tasks as TaskRepository,
    sender: sender.sender,
    bidsQueueUrl: BIDS_QUEUE,
    now: () => NOW,
    retry: { sleep: async () => {} },
    ...(concurrency ? { concurrency } : {}),
  });
  return { service, world: full, ...f, ...sender };
}

describe("dispatch: choosing agents", () => {
  it("queries only the rarest required capability and keeps agents having all of them", async () => {
    const t = setup({
      profiles: [
        profile("a-both", ["python", "sql"]),
        profile("b-python", ["python"]),
        profile("c-python", ["python", "go"]),
        profile("d-both", ["go", "python", "sql"]),
        profile("e-sql", ["sql"]),
      ],
    });

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.queried).toEqual(["sql"]);
    expect(t.sent.map((s) => s.agent_id).sort()).toEqual(["a-both", "d-both"]);
    expect(summary).toMatchObject({ invited: 2, newly_invited: 2, delivered: 2, failed: 0 });
  });

  it("reads every page of the capability index, 100 at a time", async () => {
    const many = Array.from({ length: 230 }, (_, i) =>
      profile(`agent-${String(i).padStart(3, "0")}`, ["python", "sql"]),
    );
    const t = setup({ profiles: many }, recordingSender(), 50);

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.pages).toEqual([100, 100, 100]);
    expect(summary.delivered).toBe(230);
  });

  it("trusts the profile over a stale index: killed, suspended or changed agents are skipped", async () => {
    const profiles = [
      profile("fresh", ["python", "sql"]),
      profile("killed", ["python", "sql"], { kill_switch_active: true }),
      profile("suspended", ["python", "sql"], { status: "suspended" }),
      profile("dropped-sql", ["python"]),
    ];
    const t = setup({
      profiles,
      // The index still lists everyone as they were before the changes reached it.
      listings: profiles.map((p) => ({ ...p, capabilities: ["python", "sql"] })),
    });

    await t.service.dispatch(TASK_ID);

    expect(t.sent.map((s) => s.agent_id)).toEqual(["fresh"]);
    expect([...t.world.bids.keys()]).toEqual(["fresh"]);
  });

  it("sends nothing and invites nobody when no agent is capable", async () => {
    const t = setup({ profiles: [profile("python-only", ["python"])] });

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.queried).toEqual([]);
    expect(summary).toMatchObject({ invited: 0, delivered: 0, failed: 0 });
    expect(summary.skipped).toBeUndefined();
  });
});

describe("dispatch: the bid request", () => {
  it("is the documented message, signed with each agent's own secret", async () => {
    const t = setup({ profiles: [profile("a", ["python", "sql"])] });

    await t.service.dispatch(TASK_ID);

    expect(t.sent).toEqual([
      {
        agent_id: "a",
        secret: "secret-of-a",
        message: {
          type: "BID_REQUEST",
          task_id: TASK_ID,
          agent_id: "a",
          title: "Fix the flaky test",
          capabilities: ["python", "sql"],
          budget: null,
          deadline: "2025-07-01T12:05:00.000Z",
          reply_to: BIDS_QUEUE,
        },
      },
    ]);
  });

  it("carries the budget when the task has one", async () => {
    const t = setup({ task: task({ budget: 25 }), profiles: [profile("a", ["python", "sql"])] });

    await t.service.dispatch(TASK_ID);

    expect(t.sent[0]?.message).toMatchObject({ budget: 25 });
  });
});

describe("dispatch: delivery", () => {
  it("keeps at most `concurrency` deliveries in flight", async () => {
    const agents = Array.from({ length: 25 }, (_, i) => profile(`agent-${i}`, ["python", "sql"]));
    const sender = recordingSender(() => new Promise((resolve) => setTimeout(resolve, 5)));
    const t = setup({ profiles: agents }, sender);

    await t.service.dispatch(TASK_ID);

    expect(t.sent).toHaveLength(25);
    expect(t.maxInFlight()).toBe(10);
  });

  it("retries a failing endpoint, records it FAILED with its attempts, and delivers to the others", async () => {
    const t = setup(
      {
        profiles: [
          profile("good", ["python", "sql"]),
          profile("flaky", ["python", "sql"]),
          profile("down", ["python", "sql"]),
          profile("gone", ["python", "sql"]),
        ],
      },
      recordingSender(async ({ agent_id }, attempt) => {
        if (agent_id === "flaky" && attempt < 2) throw new Error("HTTP 503 from flaky.example");
        if (agent_id === "down") throw new Error("HTTP 500 from down.example");
        if (agent_id === "gone") throw new NonRetryableError("QueueDoesNotExist: no such queue");
      }),
    );

    const summary = await t.service.dispatch(TASK_ID);

    expect(Object.fromEntries(t.deliveries.map((d) => [d.agent_id, d.result]))).toEqual({
      good: { ok: true, attempts: 1 },
      flaky: { ok: true, attempts: 2 },
      down: { ok: false, attempts: 3, error: "HTTP 500 from down.example" },
      gone: { ok: false, attempts: 1, error: "NonRetryableError: QueueDoesNotExist: no such queue" },
    });
    expect(summary).toMatchObject({ invited: 4, delivered: 2, failed: 2 });
    expect(summary.failures).toEqual([
      { agent_id: "down", attempts: 3, error: "HTTP 500 from down.example" },
      { agent_id: "gone", attempts: 1, error: "NonRetryableError: QueueDoesNotExist: no such queue" },
    ]);
  });

  it("a hanging endpoint does not hold the others back", async () => {
    const agents = Array.from({ length: 5 }, (_, i) => profile(`agent-${i}`, ["python", "sql"]));
    let release: () => void = () => {};
    const hanging = new Promise<void>((resolve) => {
      release = resolve;
    });
    const t = setup(
      { profiles: agents },
      recordingSender(({ agent_id }) => (agent_id === "agent-0" ? hanging : Promise.resolve())),
      2,
    );

    const running = t.service.dispatch(TASK_ID);
    await new Promise((resolve) => setTimeout(resolve, 20));

    expect(t.deliveries.map((d) => d.agent_id).sort()).toEqual(["agent-1", "agent-2", "agent-3", "agent-4"]);
    release();
    expect((await running).delivered).toBe(5);
  });

  it("never sends unsigned: an agent without a secret is recorded FAILED with 0 attempts", async () => {
    const t = setup({ profiles: [profile("a", ["python", "sql"]), profile("b", ["python", "sql"])] });
    t.world.secrets.delete("b");

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.attempts.has("b")).toBe(false);
    expect(t.deliveries.find((d) => d.agent_id === "b")?.result).toEqual({
      ok: false,
      attempts: 0,
      error: "agent has no bid-signing secret",
    });
    expect(summary).toMatchObject({ delivered: 1, failed: 1 });
  });

  it("an infrastructure error still lets every other delivery run and be recorded, then throws", async () => {
    const t = setup({ profiles: ["a", "b", "c"].map((id) => profile(id, ["python", "sql"])) });
    const record = t.bidding.recordDelivery;
    t.bidding.recordDelivery = async (taskId, agentId, result) => {
      if (agentId === "b") throw new Error("ProvisionedThroughputExceededException");
      return record(taskId, agentId, result);
    };

    await expect(t.service.dispatch(TASK_ID)).rejects.toThrow("ProvisionedThroughputExceededException");
    expect(t.deliveries.map((d) => d.agent_id).sort()).toEqual(["a", "c"]);
  });
});

describe("dispatch: idempotence and preconditions", () => {
  it("a re-run sends only to agents not yet delivered to and not yet answered", async () => {
    let failFlaky = true;
    const t = setup(
      {
        profiles: ["a", "b", "c", "d"].map((id) => profile(id, ["python", "sql"])),
      },
      recordingSender(async ({ agent_id }) => {
        if (agent_id === "b" && failFlaky) throw new Error("HTTP 503");
      }),
    );
    await t.service.dispatch(TASK_ID);
    const answered = t.world.bids.get("c");
    if (answered) {
      answered.status = "DECLINED";
      answered.delivery_status = "FAILED";
    }
    failFlaky = false;
    t.sent.length = 0;

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.sent.map((s) => s.agent_id)).toEqual(["b"]);
    expect(summary).toMatchObject({
      invited: 4,
      newly_invited: 0,
      delivered: 1,
      failed: 0,
      already_delivered: 3,
    });
  });

  it.each([
    ["AWARDED", task({ status: "AWARDED" }), "NOT_OPEN"],
    ["NO_BIDS", task({ status: "NO_BIDS" }), "NOT_OPEN"],
    ["past its deadline", task({ bid_deadline: "2025-07-01T11:59:59.999Z" }), "DEADLINE_PASSED"],
    ["without a deadline", task({ bid_deadline: undefined }), "NO_DEADLINE"],
  ])("does not dispatch a task %s", async (_name, theTask, reason) => {
    const t = setup({ task: theTask, profiles: [profile("a", ["python", "sql"])] });

    const summary = await t.service.dispatch(TASK_ID);

    expect(summary).toMatchObject({ skipped: reason, invited: 0, delivered: 0 });
    expect(t.world.bids.size).toBe(0);
    expect(t.sent).toEqual([]);
  });

  it("a missing task is a NotFoundError", async () => {
    const t = setup({ task: undefined, profiles: [] });

    await expect(t.service.dispatch(TASK_ID)).rejects.toThrow(NotFoundError);
  });
});
