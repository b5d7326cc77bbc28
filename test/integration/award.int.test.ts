import { QueryCommand } from "@aws-sdk/client-dynamodb";
import type { Message } from "@aws-sdk/client-sqs";
import type { Context } from "aws-lambda";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildAwardSweeper } from "../../functions/shared/container.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { loadConfig } from "../../src/config.js";
import {
  type ApprovalPolicy,
  type AwardCandidate,
  type AwardServiceOptions,
  createAwardService,
  DEADLINE_GRACE_MS,
} from "../../src/domain/bidding/award.service.js";
import { SIGNATURE_ATTRIBUTE } from "../../src/domain/bidding/messages.js";
import { verifyBodySignature } from "../../src/domain/bidding/signing.js";
import type { Task } from "../../src/domain/tasks/task.types.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { type TestQueue, useTestQueue } from "../helpers/sqs.js";

/**
 * The award on DynamoDB Local and the SQS emulator. Each agent is a real consumer of its own queue:
 * the tests receive the notices from it and check the signature with the agent's secret. Bids are
 * written with the bidding repository directly (the bid worker has its own tests). The clock is
 * pinned; each test works in its own era, so a sweep sees only the deadlines of its own test.
 */

const AGENT_NAMES = ["veteran", "mediocre", "newcomer", "decliner", "silent"] as const;
type AgentName = (typeof AGENT_NAMES)[number];

interface TestAgent {
  id: string;
  secret: string;
  queue: TestQueue;
}

interface Received {
  body: Record<string, unknown>;
  raw: string;
  signature: string | undefined;
}

const MINUTE = 60_000;

describe("award: documented winner, one award, notices to every bidder", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;
  let bidding: BiddingRepository;
  let bidsQueue: TestQueue;
  let clock = new Date("2030-01-01T00:00:00.000Z");
  const now = () => clock;
  const agents = {} as Record<AgentName, TestAgent>;

  function awardService(overrides: Partial<AwardServiceOptions> = {}) {
    return createAwardService({
      tasks: services.taskRepo,
      bidding,
      agents: services.agentRepo,
      sender: createSqsEndpointSender({ client: bidsQueue.client }),
      bidsQueueUrl: bidsQueue.queueUrl,
      now,
      sleep: async () => {},
      ...overrides,
    });
  }

  /** Gives an agent a track record through the ledger: one awarded task per outcome. */
  async function seedRecord(agentId: string, outcomes: Array<{ success: boolean; quality: number }>) {
    for (const outcome of outcomes) {
      const taskId = issueUrl();
      await services.taskRepo.createTask({
        task_id: taskId,
        title: "seed",
        required_capabilities: ["python"],
      });
      await services.award({
        task_id: taskId,
        agent_id: agentId,
        bid_amount: 10,
        status: "AWARDED",
      });
      await services.taskRepo.recordOutcome({
        task_id: taskId,
        winning_agent_id: agentId,
        bid_amount: 10,
        actual_cost: 10,
        status: outcome.success ? "SUCCESS" : "FAILURE",
        quality_score: outcome.quality,
        completion_timestamp: "2029-06-01T00:00:00.000Z",
      });
    }
  }

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    table = await useTestTable();
    services = servicesFor(table, now);
    bidding = createBiddingRepository({ service: table.service, now });
    bidsQueue = await useTestQueue("award-bids");
    for (const name of AGENT_NAMES) {
      const queue = await useTestQueue(`agent-${name}`);
      const id = `${name}-${queue.queueUrl.slice(-8)}`;
      const { secret } = await services.agents.register(
        {
          agent_id: id,
          capabilities: ["python"],
          cost_model: "green",
          bidding_endpoint: queue.queueUrl,
        },
        TEST_OPERATOR,
      );
      if (!secret) throw new Error(`no secret for ${id}`);
      agents[name] = { id, secret, queue };
    }
    // veteran: 4 of 4 successes, quality 0.9 each → success (4 + 2.1) / 7, quality (3.6 + 1.8) / 7.
    await seedRecord(
      agents.veteran.id,
      Array.from({ length: 4 }, () => ({ success: true, quality: 0.9 })),
    );
    // mediocre: 1 of 4, quality 0.7 + 3 × 0.3 → success 3.1 / 7, quality 3.4 / 7.
    await seedRecord(agents.mediocre.id, [
      { success: true, quality: 0.7 },
      ...Array.from({ length: 3 }, () => ({ success: false, quality: 0.3 })),
    ]);
  });

  beforeEach(async () => {
    for (const agent of Object.values(agents)) await agent.queue.drain();
  });

  /** Receives everything on the agent's queue, as the agent would. */
  async function inbox(name: AgentName): Promise<Received[]> {
    const messages: Message[] = await agents[name].queue.drain();
    return messages.map((m) => ({
      body: JSON.parse(m.Body ?? "null"),
      raw: m.Body ?? "",
      signature: m.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
    }));
  }

  /** Starts a test's era: the clock at `start`, a task with its deadline `windowMin` minutes later. */
  async function openTask(start: string, options: { budget?: number; windowMin?: number } = {}) {
    clock = new Date(start);
    const taskId = issueUrl();
    const deadline = new Date(clock.getTime() + (options.windowMin ?? 5) * MINUTE).toISOString();
    await services.tasks.create({
      task_id: taskId,
      title: "Fix the flaky test",
      required_capabilities: ["python"],
      bid_deadline: deadline,
      ...(options.budget !== undefined ? { budget: options.budget } : {}),
    });
    return { taskId, deadline };
  }

  async function invite(taskId: string, names: AgentName[]) {
    await bidding.invite(
      taskId,
      names.map((name) => agents[name].id),
    );
  }

  async function bid(taskId: string, name: AgentName, amount: number, estimate = 3600) {
    await bidding.acceptBid(taskId, agents[name].id, {
      bid_amount: amount,
      estimated_completion_sec: estimate,
      sent_at: clock.toISOString(),
    });
  }

  async function awardItems(taskId: string) {
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk AND SK = :sk",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${taskId}` }, ":sk": { S: "AWARD" } },
        ConsistentRead: true,
      }),
    );
    return Items;
  }

  async function record(taskId: string) {
    const found = await services.taskRepo.getTaskRecord(taskId, { consistent: true });
    if (!found) throw new Error(`no task ${taskId}`);
    return found;
  }

  function noticeStates(bids: Array<{ agent_id: string; notice?: string; notice_status?: string }>) {
    return Object.fromEntries(bids.map((b) => [b.agent_id, [b.notice, b.notice_status]]));
  }

  it("awards the documented winner at the deadline; AWARD to it and REJECTION to every other bidder, signed", async () => {
    const { taskId, deadline } = await openTask("2030-01-01T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre", "newcomer", "decliner", "silent"]);
    clock = new Date(clock.getTime() + MINUTE);
    await bid(taskId, "veteran", 12, 3600);
    await bid(taskId, "mediocre", 9, 3600);
    await bid(taskId, "newcomer", 10, 1800);
    await bidding.declineBid(taskId, agents.decliner.id, clock.toISOString());
    const awards = awardService();

    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);
    const outcome = await awards.evaluate(taskId);

    // price = 9 / bid, speed = 1800 / estimate; success and quality smoothed with K = 3:
    // newcomer 0.4 × 0.9  + 0.3 × 0.7      + 0.2 × 0.6      + 0.1 × 1   = 0.79
    // veteran  0.4 × 0.75 + 0.3 × 6.1 / 7  + 0.2 × 5.4 / 7  + 0.1 × 0.5 = 0.765714
    // mediocre 0.4 × 1    + 0.3 × 3.1 / 7  + 0.2 × 3.4 / 7  + 0.1 × 0.5 = 0.68
    expect(outcome.kind).toBe("AWARDED");
    if (outcome.kind !== "AWARDED") return;
    expect(outcome.ranking.map((c) => [c.bid.agent_id, c.score])).toEqual([
      [agents.newcomer.id, 0.79],
      [agents.veteran.id, 0.765714],
      [agents.mediocre.id, 0.68],
    ]);
    const stored = await record(taskId);
    expect(stored.task.status).toBe("AWARDED");
    expect(stored.award).toMatchObject({
      agent_id: agents.newcomer.id,
      bid_amount: 10,
      estimated_completion_sec: 1800,
      status: "AWARDED",
      awarded_at: new Date(Date.parse(deadline) + DEADLINE_GRACE_MS).toISOString(),
    });
    expect(noticeStates(stored.bids)).toEqual({
      [agents.newcomer.id]: ["AWARD", "DELIVERED"],
      [agents.veteran.id]: ["REJECTION", "DELIVERED"],
      [agents.mediocre.id]: ["REJECTION", "DELIVERED"],
      [agents.decliner.id]: [undefined, undefined],
      [agents.silent.id]: [undefined, undefined],
    });

    const [award, ...extra] = await inbox("newcomer");
    expect(extra).toEqual([]);
    expect(award?.body).toEqual({
      type: "AWARD",
      task_id: taskId,
      agent_id: agents.newcomer.id,
      bid_amount: 10,
      awarded_at: new Date(Date.parse(deadline) + DEADLINE_GRACE_MS).toISOString(),
      reply_to: bidsQueue.queueUrl,
      // Protocol v2: each notice is sealed when sent.
      sent_at: expect.any(String),
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    expect(verifyBodySignature(agents.newcomer.secret, award?.raw ?? "", award?.signature)).toBe(true);
    expect(verifyBodySignature(agents.veteran.secret, award?.raw ?? "", award?.signature)).toBe(false);
    for (const loser of ["veteran", "mediocre"] as const) {
      const messages = await inbox(loser);
      expect(messages).toHaveLength(1);
      expect(messages[0]?.body).toMatchObject({
        type: "REJECTION",
        task_id: taskId,
        agent_id: agents[loser].id,
      });
      expect(String(messages[0]?.body.reason)).toMatch(/^OUTBID: /);
      expect(verifyBodySignature(agents[loser].secret, messages[0]?.raw ?? "", messages[0]?.signature)).toBe(
        true,
      );
    }
    expect(await inbox("decliner")).toEqual([]);
    expect(await inbox("silent")).toEqual([]);
  });

  it("parallel award runs after the deadline make one award and send each bidder one notice", async () => {
    const { taskId, deadline } = await openTask("2030-02-01T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre", "newcomer", "silent"]);
    await bid(taskId, "veteran", 10);
    await bid(taskId, "mediocre", 10);
    await bid(taskId, "newcomer", 10);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS + 1000);

    const outcomes = await Promise.all(Array.from({ length: 5 }, () => awardService().evaluate(taskId)));

    // Same price and speed: the veteran's record decides (0.4 + 0.3 × 6.1/7 + 0.2 × 5.4/7 + 0.1).
    expect(outcomes.filter((o) => o.kind === "AWARDED")).toHaveLength(1);
    expect(
      outcomes.filter((o) => o.kind === "SETTLED").every((o) => "notices" in o && o.notices.length === 0),
    ).toBe(true);
    expect(await awardItems(taskId)).toHaveLength(1);
    expect((await record(taskId)).award?.agent_id).toBe(agents.veteran.id);
    expect((await inbox("veteran")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["REJECTION"]);
    expect((await inbox("newcomer")).map((m) => m.body.type)).toEqual(["REJECTION"]);
    expect(await inbox("silent")).toEqual([]);
  });

  it("a later run re-sends only notices that were not delivered: FAILED at once, missing after the grace period", async () => {
    const { taskId, deadline } = await openTask("2030-03-01T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre", "newcomer"]);
    await bid(taskId, "veteran", 10);
    await bid(taskId, "mediocre", 11);
    await bid(taskId, "newcomer", 12);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);
    // The award run committed, delivered one rejection, failed another, then crashed.
    await services.award({
      task_id: taskId,
      agent_id: agents.veteran.id,
      bid_amount: 10,
      status: "AWARDED",
    });
    await bidding.recordNotice(taskId, agents.mediocre.id, "REJECTION", "DELIVERED");
    await bidding.recordNotice(taskId, agents.newcomer.id, "REJECTION", "FAILED");
    const awards = awardService({ noticeGraceMs: 5 * MINUTE });

    const early = await awards.evaluate(taskId);

    expect(early).toMatchObject({ kind: "SETTLED", status: "AWARDED" });
    expect(await inbox("newcomer")).toHaveLength(1);
    expect(await inbox("veteran")).toEqual([]);

    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS + 5 * MINUTE);
    const healed = await awards.evaluate(taskId);
    const again = await awards.evaluate(taskId);

    expect(healed.kind === "SETTLED" && healed.notices.map((n) => [n.agent_id, n.notice, n.status])).toEqual([
      [agents.veteran.id, "AWARD", "DELIVERED"],
    ]);
    expect(again.kind === "SETTLED" && again.notices).toEqual([]);
    expect((await inbox("veteran")).map((m) => m.body)).toEqual([
      expect.objectContaining({
        type: "AWARD",
        agent_id: agents.veteran.id,
        awarded_at: new Date(Date.parse(deadline) + DEADLINE_GRACE_MS).toISOString(),
      }),
    ]);
    expect(await inbox("mediocre")).toEqual([]);
    expect(await inbox("newcomer")).toEqual([]);
    expect(noticeStates((await record(taskId)).bids)).toEqual({
      [agents.veteran.id]: ["AWARD", "DELIVERED"],
      [agents.mediocre.id]: ["REJECTION", "DELIVERED"],
      [agents.newcomer.id]: ["REJECTION", "DELIVERED"],
    });
  });

  it("awards early once every invited agent has answered", async () => {
    const { taskId, deadline } = await openTask("2030-04-01T00:00:00.000Z");
    await invite(taskId, ["mediocre", "newcomer", "decliner"]);
    clock = new Date(clock.getTime() + MINUTE);
    await bid(taskId, "mediocre", 8);
    await bid(taskId, "newcomer", 9);
    await bidding.declineBid(taskId, agents.decliner.id, clock.toISOString());

    const outcome = await awardService().evaluate(taskId);

    expect(Date.parse(deadline)).toBeGreaterThan(clock.getTime());
    expect(outcome.kind).toBe("AWARDED");
    // mediocre 0.4 + 0.3 × 3.1/7 + 0.2 × 3.4/7 + 0.1 = 0.73; newcomer 0.4 × 8/9 + 0.21 + 0.12 + 0.1 = 0.785556
    expect((await record(taskId)).award).toMatchObject({ agent_id: agents.newcomer.id, bid_amount: 9 });
    expect(await inbox("newcomer")).toHaveLength(1);
    expect(await inbox("mediocre")).toHaveLength(1);
    expect(await inbox("decliner")).toEqual([]);
  });

  it("does nothing before the deadline while an invited agent has not answered", async () => {
    const { taskId, deadline } = await openTask("2030-05-01T00:00:00.000Z");
    await invite(taskId, ["veteran", "silent"]);
    await bid(taskId, "veteran", 10);
    clock = new Date(Date.parse(deadline) - 1);

    const outcome = await awardService().evaluate(taskId);

    expect(outcome.kind).toBe("NOT_DUE");
    const stored = await record(taskId);
    expect(stored.task.status).toBe("OPEN");
    expect(stored.award).toBeUndefined();
    expect(await inbox("veteran")).toEqual([]);
    const due = await services.taskRepo.openTasksDueBy(deadline);
    expect(due.items.map((i) => i.task_id)).toContain(taskId);
  });

  it("with no bids the task becomes NO_BIDS, visible through the task read, and nobody is notified", async () => {
    const { taskId, deadline } = await openTask("2030-06-01T00:00:00.000Z");
    await invite(taskId, ["decliner", "silent"]);
    await bidding.declineBid(taskId, agents.decliner.id, clock.toISOString());
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);

    const outcome = await awardService().evaluate(taskId);

    expect(outcome).toEqual({ kind: "NO_BIDS", task_id: taskId, notices: [] });
    expect((await services.tasks.get(taskId)).task.status).toBe("NO_BIDS");
    expect(await awardItems(taskId)).toEqual([]);
    expect((await services.taskRepo.openTasksDueBy(deadline)).items.map((i) => i.task_id)).not.toContain(
      taskId,
    );
    expect(await inbox("decliner")).toEqual([]);
    expect(await inbox("silent")).toEqual([]);
  });

  it("ignores over-budget bids, even one that would otherwise win, and tells their bidders why", async () => {
    const { taskId, deadline } = await openTask("2030-07-01T00:00:00.000Z", { budget: 10 });
    await invite(taskId, ["veteran", "mediocre"]);
    // Within budget the veteran would win: 0.4 × 10/10.5 + 0.3 × 6.1/7 + 0.2 × 5.4/7 + 0.1 > 0.73.
    await bid(taskId, "veteran", 10.5);
    await bid(taskId, "mediocre", 10);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);

    const outcome = await awardService().evaluate(taskId);

    expect(outcome.kind === "AWARDED" && outcome.ranking.map((c) => c.bid.agent_id)).toEqual([
      agents.mediocre.id,
    ]);
    expect((await record(taskId)).award).toMatchObject({ agent_id: agents.mediocre.id, bid_amount: 10 });
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["AWARD"]);
    const [rejection] = await inbox("veteran");
    expect(rejection?.body).toMatchObject({
      type: "REJECTION",
      reason: "OVER_BUDGET: bid 10.5 exceeds the budget 10",
    });
  });

  it("only over-budget bids: NO_BIDS, and the bidders get a REJECTION", async () => {
    const { taskId, deadline } = await openTask("2030-07-15T00:00:00.000Z", { budget: 5 });
    await invite(taskId, ["veteran"]);
    await bid(taskId, "veteran", 6);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);

    const outcome = await awardService().evaluate(taskId);

    expect(outcome.kind).toBe("NO_BIDS");
    expect((await services.tasks.get(taskId)).task.status).toBe("NO_BIDS");
    expect((await inbox("veteran")).map((m) => m.body.reason)).toEqual([
      "OVER_BUDGET: bid 6 exceeds the budget 5",
    ]);
  });

  it("an agent kill-switched after bidding cannot win", async () => {
    const { taskId, deadline } = await openTask("2030-07-20T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre"]);
    await bid(taskId, "veteran", 10);
    await bid(taskId, "mediocre", 10);
    await services.agents.setKillSwitch(agents.veteran.id, true, TEST_OPERATOR);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);
    try {
      const outcome = await awardService().evaluate(taskId);

      expect(outcome.kind).toBe("AWARDED");
      expect((await record(taskId)).award?.agent_id).toBe(agents.mediocre.id);
      expect((await inbox("veteran")).map((m) => m.body.reason)).toEqual([
        "INELIGIBLE: the agent was suspended or kill-switched before the award",
      ]);
    } finally {
      await services.agents.setKillSwitch(agents.veteran.id, false, TEST_OPERATOR);
    }
  });

  it("an unreachable bidder gets FAILED after 3 attempts without holding back the other notices", async () => {
    const gone = `gone-${Date.now()}`;
    await services.agents.register(
      {
        agent_id: gone,
        capabilities: ["python"],
        cost_model: "green",
        bidding_endpoint: bidsQueue.queueUrl.replace(/[^/]+$/, `${gone}-deleted-queue`),
      },
      TEST_OPERATOR,
    );
    const { taskId, deadline } = await openTask("2030-07-25T00:00:00.000Z");
    await invite(taskId, ["newcomer"]);
    await bidding.invite(taskId, [gone]);
    await bid(taskId, "newcomer", 10);
    await bidding.acceptBid(taskId, gone, {
      bid_amount: 20,
      estimated_completion_sec: 3600,
      sent_at: clock.toISOString(),
    });
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);

    const outcome = await awardService().evaluate(taskId);

    expect(
      outcome.kind === "AWARDED" &&
        Object.fromEntries(outcome.notices.map((n) => [n.agent_id, [n.notice, n.status, n.attempts]])),
    ).toEqual({
      [agents.newcomer.id]: ["AWARD", "DELIVERED", 1],
      [gone]: ["REJECTION", "FAILED", 3],
    });
    expect(noticeStates((await record(taskId)).bids)).toEqual({
      [agents.newcomer.id]: ["AWARD", "DELIVERED"],
      [gone]: ["REJECTION", "FAILED"],
    });
    expect((await inbox("newcomer")).map((m) => m.body.type)).toEqual(["AWARD"]);
  });

  it("the approval seam can hold an award in PENDING_APPROVAL: nothing is sent yet", async () => {
    const { taskId, deadline } = await openTask("2030-08-01T00:00:00.000Z", { budget: 100 });
    await invite(taskId, ["veteran", "newcomer"]);
    await bid(taskId, "veteran", 90);
    await bid(taskId, "newcomer", 95);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);
    const seen: Array<{ candidate: AwardCandidate; task: Task }> = [];
    const approval: ApprovalPolicy = {
      decide(candidate, task) {
        seen.push({ candidate, task });
        return candidate.bid.bid_amount > 50 ? "PENDING_APPROVAL" : "AWARDED";
      },
    };

    const outcome = await awardService({ approval }).evaluate(taskId);

    expect(outcome).toMatchObject({ kind: "AWARDED", award: { status: "PENDING_APPROVAL" }, notices: [] });
    expect(
      seen.map(({ candidate, task }) => [candidate.profile.agent_id, candidate.rank, task.task_id]),
    ).toEqual([[agents.veteran.id, 1, taskId]]);
    const stored = await record(taskId);
    expect(stored.task.status).toBe("PENDING_APPROVAL");
    expect(stored.award).toMatchObject({ agent_id: agents.veteran.id, status: "PENDING_APPROVAL" });
    expect(await inbox("veteran")).toEqual([]);
    expect(await inbox("newcomer")).toEqual([]);
    // A later run (sweeper, bid worker) leaves a held award alone.
    clock = new Date(Date.parse(deadline) + 10 * MINUTE);
    expect(await awardService({ approval }).evaluate(taskId)).toMatchObject({
      kind: "SETTLED",
      status: "PENDING_APPROVAL",
      notices: [],
    });
    expect(await inbox("veteran")).toEqual([]);
  });

  it("a crash between the award and its notices is healed by the sweeper, which then closes the bid window", async () => {
    const { taskId, deadline } = await openTask("2030-02-01T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre"]);
    await bid(taskId, "veteran", 12);
    await bid(taskId, "mediocre", 9);
    // The deciding run committed the award and died before sending anything.
    await services.award({
      task_id: taskId,
      agent_id: agents.mediocre.id,
      bid_amount: 9,
      status: "AWARDED",
    });
    const dueBefore = await services.taskRepo.openTasksDueBy(deadline, { limit: 100 });

    clock = new Date(Date.parse(deadline) + 10 * MINUTE);
    await awardService().sweep(clock);

    expect(dueBefore.items.map((t) => t.task_id)).toContain(taskId);
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("veteran")).map((m) => m.body.type)).toEqual(["REJECTION"]);
    const due = await services.taskRepo.openTasksDueBy(clock.toISOString(), { limit: 100 });
    expect(due.items.map((t) => t.task_id)).not.toContain(taskId);
  });

  it("the sweeper awards due tasks through GSI3, bounded per call, and leaves tasks not yet due", async () => {
    // The earliest era of this file: no other test's deadline is this early.
    const start = "2029-01-01T00:00:00.000Z";
    const first = await openTask(start, { windowMin: 1 });
    await invite(first.taskId, ["veteran", "newcomer"]);
    await bid(first.taskId, "veteran", 10);
    const second = await openTask(start, { windowMin: 2 });
    await invite(second.taskId, ["silent"]);
    const third = await openTask(start, { windowMin: 2.5 });
    await invite(third.taskId, ["mediocre", "silent"]);
    await bid(third.taskId, "mediocre", 10);
    const later = await openTask(start, { windowMin: 10 });
    await invite(later.taskId, ["newcomer", "silent"]);
    await bid(later.taskId, "newcomer", 10);
    const awards = awardService();
    clock = new Date(Date.parse(start) + 3 * MINUTE);

    const firstSweep = await awards.sweep(clock, { maxTasks: 2 });
    const secondSweep = await awards.sweep(clock, { maxTasks: 2 });

    expect(firstSweep).toEqual({
      examined: 2,
      awarded: 1,
      pendingApproval: 0,
      noBids: 1,
      settled: 0,
      failed: 0,
      more: true,
    });
    expect(secondSweep).toMatchObject({ examined: 1, awarded: 1, more: false });
    expect((await record(first.taskId)).award?.agent_id).toBe(agents.veteran.id);
    expect((await record(second.taskId)).task.status).toBe("NO_BIDS");
    expect((await record(third.taskId)).award?.agent_id).toBe(agents.mediocre.id);
    const notDue = await record(later.taskId);
    expect(notDue.task.status).toBe("OPEN");
    expect(notDue.award).toBeUndefined();
    expect((await inbox("veteran")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect(await inbox("newcomer")).toEqual([]);
    expect((await awards.sweep(clock)).examined).toBe(0);
  });

  it("the scheduled handler's wiring (config → repositories → SQS sender) awards a task past its deadline", async () => {
    // Real clock here: a deadline years before any other in this file is the only one due now.
    const { taskId } = await openTask("2001-01-01T00:00:00.000Z");
    await invite(taskId, ["newcomer", "silent"]);
    await bid(taskId, "newcomer", 3);
    const sweeper = buildAwardSweeper(
      loadConfig({
        AGENTFORGE_LOCAL: "true",
        TABLE_NAME: table.tableName,
        DYNAMODB_ENDPOINT: table.endpoint,
        SQS_ENDPOINT: bidsQueue.endpoint,
        BIDS_QUEUE_URL: bidsQueue.queueUrl,
      }),
    );
    const context = { getRemainingTimeInMillis: () => 60_000 } as Context;

    const summary = await sweeper.sweep({ scheduled_time: new Date().toISOString() }, context);

    expect(summary).toMatchObject({ examined: 1, awarded: 1, failed: 0, more: false });
    const [award] = await inbox("newcomer");
    expect(award?.body).toMatchObject({ type: "AWARD", task_id: taskId, reply_to: bidsQueue.queueUrl });
    expect(verifyBodySignature(agents.newcomer.secret, award?.raw ?? "", award?.signature)).toBe(true);
  });
});
