import { describe, expect, it } from "vitest";
import type { AgentListing, AgentProfile } from "../../src/domain/agents/agent.types.js";
import { deriveHistory, ZERO_TOTALS } from "../../src/domain/agents/performance.js";
import type { DeliveryJob, DeliveryQueue } from "../../src/domain/bidding/delivery.js";
import { createDispatchService } from "../../src/domain/bidding/dispatch.service.js";
import type { MarketplaceMessage } from "../../src/domain/bidding/messages.js";
import { NotFoundError } from "../../src/domain/errors.js";
import type { Award, Bid, Task } from "../../src/domain/tasks/task.types.js";
import type { AgentRepository } from "../../src/ports/agent-repository.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import type { TaskRepository } from "../../src/ports/task-repository.js";

/*
 * In-memory stand-ins for the ports, so these tests pin down the dispatch rules themselves
 * (selection, the jobs it enqueues, idempotence, the notices it plans). Sending is the delivery
 * service's (test/unit/delivery-service.test.ts); the same rules run against DynamoDB Local and real
 * queues in test/integration/dispatch.int.test.ts and delivery.int.test.ts.
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
  award?: Award;
  bids: Map<string, Bid>;
  profiles: AgentProfile[];
  /** What the capability index returns; defaults to the listed profiles (it may be stale). */
  listings?: AgentListing[];
  secrets: Map<string, string>;
}

function fakes(world: World) {
  const queried: string[] = [];
  const pages: number[] = [];
  const agents: Pick<AgentRepository, "listedCounts" | "findByCapability" | "getProfiles"> = {
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
  };
  const bidding: Pick<BiddingRepository, "invite"> = {
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
  };
  const tasks: Pick<TaskRepository, "getTaskRecord"> = {
    async getTaskRecord(_id, options) {
      if (!options?.consistent) throw new Error("dispatch must read the task consistently");
      if (!world.task) return undefined;
      return {
        task: world.task,
        bids: [...world.bids.values()].map((b) => ({ ...b })),
        ...(world.award ? { award: world.award } : {}),
        ledger: [],
        rejections: [],
      };
    },
  };
  return { agents, bidding, tasks, queried, pages };
}

/** A delivery queue that keeps what it was given; `failNext` makes the next enqueue throw. */
function recordingQueue() {
  const jobs: DeliveryJob[] = [];
  let failNext = false;
  const deliveries: DeliveryQueue = {
    async enqueue(batch) {
      if (failNext) {
        failNext = false;
        throw new Error("SQS unavailable");
      }
      jobs.push(...batch);
    },
  };
  return {
    deliveries,
    jobs,
    /** What was enqueued, as (agent, message) pairs. */
    get sent(): Array<{ agent_id: string; message: MarketplaceMessage }> {
      return jobs.map((j) => ({ agent_id: j.agent_id, message: j.message }));
    },
    failOnce() {
      failNext = true;
    },
  };
}

function setup(world: Partial<World> & { profiles: AgentProfile[] }) {
  const full: World = {
    task: task(),
    bids: new Map(),
    secrets: new Map(),
    ...world,
  };
  const f = fakes(full);
  const queue = recordingQueue();
  const service = createDispatchService({
    agents: f.agents as AgentRepository,
    bidding: f.bidding as BiddingRepository,
    tasks: f.tasks as TaskRepository,
    deliveries: queue.deliveries,
    bidsQueueUrl: BIDS_QUEUE,
    now: () => NOW,
  });
  return {
    service,
    world: full,
    ...f,
    queue,
    get sent() {
      return queue.sent;
    },
  };
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
    expect(summary).toMatchObject({ invited: 2, newly_invited: 2, enqueued: 2, already_settled: 0 });
  });

  it("reads every page of the capability index, 100 at a time", async () => {
    const many = Array.from({ length: 230 }, (_, i) =>
      profile(`agent-${String(i).padStart(3, "0")}`, ["python", "sql"]),
    );
    const t = setup({ profiles: many });

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.pages).toEqual([100, 100, 100]);
    expect(summary.enqueued).toBe(230);
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
    expect(summary).toMatchObject({ invited: 0, enqueued: 0 });
    expect(summary.skipped).toBeUndefined();
  });
});

describe("dispatch: the bid request", () => {
  it("is the documented message, one job per agent with the endpoint read from its profile", async () => {
    const t = setup({ profiles: [profile("a", ["python", "sql"])] });

    await t.service.dispatch(TASK_ID);

    expect(t.queue.jobs).toEqual([
      {
        task_id: TASK_ID,
        agent_id: "a",
        bidding_endpoint: "https://sqs.us-east-1.amazonaws.com/123456789012/a",
        endpoint_kind: "sqs",
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

describe("dispatch: idempotence and preconditions", () => {
  it("a duplicate dispatch message a moment later enqueues nothing: the first run's jobs are still on their way", async () => {
    const t = setup({ profiles: ["a", "b"].map((id) => profile(id, ["python", "sql"])) });
    await t.service.dispatch(TASK_ID);
    t.queue.jobs.length = 0;

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.sent).toEqual([]);
    expect(summary).toMatchObject({ invited: 2, newly_invited: 0, enqueued: 0, already_settled: 2 });
  });

  it("a redelivery after a crash enqueues only invitations no job settled: never a FAILED endpoint, nor one that answered", async () => {
    const t = setup({ profiles: ["a", "b", "c", "d", "e"].map((id) => profile(id, ["python", "sql"])) });
    await t.service.dispatch(TASK_ID);
    // Redelivered after the queue's visibility timeout: the invitations are minutes old.
    for (const bid of t.world.bids.values()) bid.invited_at = "2025-07-01T11:57:00.000Z";
    const settle = (id: string, fields: Partial<Bid>) => Object.assign(t.world.bids.get(id) ?? {}, fields);
    settle("a", { delivery_status: "DELIVERED" });
    settle("b", { delivery_status: "FAILED", counted_unreachable: true });
    // Answered although its delivery was never recorded (the job was still in flight).
    settle("c", { status: "DECLINED" });
    t.queue.jobs.length = 0;

    const summary = await t.service.dispatch(TASK_ID);

    expect(t.sent.map((s) => s.agent_id)).toEqual(["d", "e"]);
    expect(summary).toMatchObject({ invited: 5, newly_invited: 0, enqueued: 2, already_settled: 3 });
  });

  it("a queue that refuses the jobs fails the run (the dispatch message is retried); the invitations stay", async () => {
    const t = setup({ profiles: [profile("a", ["python", "sql"])] });
    t.queue.failOnce();

    await expect(t.service.dispatch(TASK_ID)).rejects.toThrow("SQS unavailable");
    expect([...t.world.bids.keys()]).toEqual(["a"]);
    // SQS offers the message again after its visibility timeout: the invitation is minutes old by then.
    for (const bid of t.world.bids.values()) bid.invited_at = "2025-07-01T11:57:00.000Z";
    expect(await t.service.dispatch(TASK_ID)).toMatchObject({ newly_invited: 0, enqueued: 1 });
  });

  it.each([
    ["AWARDED", task({ status: "AWARDED" }), "NOT_OPEN"],
    ["NO_BIDS", task({ status: "NO_BIDS" }), "NOT_OPEN"],
    ["past its deadline", task({ bid_deadline: "2025-07-01T11:59:59.999Z" }), "DEADLINE_PASSED"],
    ["without a deadline", task({ bid_deadline: undefined }), "NO_DEADLINE"],
  ])("does not dispatch a task %s", async (_name, theTask, reason) => {
    const t = setup({ task: theTask, profiles: [profile("a", ["python", "sql"])] });

    const summary = await t.service.dispatch(TASK_ID);

    expect(summary).toMatchObject({ skipped: reason, invited: 0, enqueued: 0 });
    expect(t.world.bids.size).toBe(0);
    expect(t.sent).toEqual([]);
  });

  it("a missing task is a NotFoundError", async () => {
    const t = setup({ task: undefined, profiles: [] });

    await expect(t.service.dispatch(TASK_ID)).rejects.toThrow(NotFoundError);
  });
});

describe("notify: the notices a decided task owes", () => {
  const awarded = (agentId: string): Award => ({
    type: "AWARD",
    task_id: TASK_ID,
    agent_id: agentId,
    bid_amount: 10,
    status: "AWARDED",
    awarded_at: NOW.toISOString(),
  });
  const accepted = (agentId: string, amount: number, extra: Partial<Bid> = {}): [string, Bid] => [
    agentId,
    {
      type: "BID",
      task_id: TASK_ID,
      agent_id: agentId,
      status: "ACCEPTED",
      invited_at: NOW.toISOString(),
      delivery_status: "DELIVERED",
      bid_amount: amount,
      estimated_completion_sec: 60,
      answered_at: NOW.toISOString(),
      updated_at: NOW.toISOString(),
      ...extra,
    },
  ];

  it("AWARD to the winner, REJECTION with its reason to every other ACCEPTED bid, nothing already DELIVERED", async () => {
    const t = setup({
      task: task({ status: "AWARDED", budget: 50 }),
      award: awarded("win"),
      bids: new Map([
        accepted("win", 10),
        accepted("lose", 20),
        accepted("over", 60),
        accepted("told", 30, { notice: "REJECTION", notice_status: "DELIVERED" }),
      ]),
      profiles: ["win", "lose", "over", "told"].map((id) => profile(id, ["python"])),
    });

    expect(await t.service.notify(TASK_ID)).toEqual({
      task_id: TASK_ID,
      task_status: "AWARDED",
      enqueued: 3,
    });
    expect(Object.fromEntries(t.sent.map((s) => [s.agent_id, s.message]))).toEqual({
      win: {
        type: "AWARD",
        task_id: TASK_ID,
        agent_id: "win",
        bid_amount: 10,
        awarded_at: NOW.toISOString(),
        reply_to: BIDS_QUEUE,
      },
      lose: expect.objectContaining({ type: "REJECTION", reason: expect.stringMatching(/^OUTBID: /) }),
      over: expect.objectContaining({ type: "REJECTION", reason: expect.stringMatching(/^OVER_BUDGET: /) }),
    });
  });

  it("owes nothing while the award waits for approval", async () => {
    const t = setup({
      task: task({ status: "PENDING_APPROVAL" }),
      award: { ...awarded("win"), status: "PENDING_APPROVAL" },
      bids: new Map([accepted("win", 10), accepted("lose", 20)]),
      profiles: ["win", "lose"].map((id) => profile(id, ["python"])),
    });

    expect(await t.service.notify(TASK_ID)).toMatchObject({ enqueued: 0 });
    expect(t.sent).toEqual([]);
  });
});
