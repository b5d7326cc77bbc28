import { randomUUID } from "node:crypto";
import { GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import type { Message } from "@aws-sdk/client-sqs";
import type { Context, DynamoDBRecord } from "aws-lambda";
import { beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  buildAwardSweeper,
  buildDeliveryWorker,
  buildTaskStreamEnqueuer,
} from "../../functions/shared/container.js";
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
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import { runDispatchWorker } from "../helpers/dispatch-worker.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { issueUrl } from "../helpers/factories.js";
import { type NoticeRelay, useNoticeRelay } from "../helpers/notice-relay.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { drainQueue, type TestQueue, useTestQueue } from "../helpers/sqs.js";

/**
 * The award on DynamoDB Local and the SQS emulator. Each agent is a real consumer of its own queue:
 * the tests receive the notices from it and check the signature with the agent's secret. Bids are
 * written with the bidding repository directly (the bid worker has its own tests). The clock is
 * pinned; each test works in its own era, so a sweep sees only the deadlines of its own test.
 *
 * The award service sends nothing: its award (or the task's move to NO_BIDS) is the outbox, and the
 * table stream relays it as a "notify" message to the dispatch worker, which plans the notices onto
 * the delivery queue for the delivery worker. Tests reproduce that relay with `relay(taskId)`
 * (`DispatchService.notify`, then the delivery worker over a real delivery queue); the last test runs
 * the deployed wiring of that relay from a stream record.
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
  let notices: NoticeRelay;
  let clock = new Date("2030-01-01T00:00:00.000Z");
  const now = () => clock;
  const agents = {} as Record<AgentName, TestAgent>;

  function awardService(overrides: Partial<AwardServiceOptions> = {}) {
    return createAwardService({
      tasks: services.taskRepo,
      bidding,
      agents: services.agentRepo,
      now,
      ...overrides,
    });
  }

  /** The notice path of the deployed stack over the given delivery queue (see the file comment). */
  const noticeRelay = (queue: TestQueue) =>
    useNoticeRelay(queue, table.service, {
      agents: services.agentRepo,
      bidding,
      tasks: services.taskRepo,
      sender: createSqsEndpointSender({ client: bidsQueue.client }),
      bidsQueueUrl: bidsQueue.queueUrl,
    });

  /** As the table stream would, once the task is decided: plans its notices and delivers them. */
  const relay = (taskId: string) => notices.relay(taskId);

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
    notices = noticeRelay(await useTestQueue("award-delivery"));
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
    // The award run sent nothing itself: the award is the outbox.
    expect(noticeStates(stored.bids)[agents.newcomer.id]).toEqual([undefined, undefined]);
    expect(await inbox("newcomer")).toEqual([]);

    const { summary, outcomes } = await relay(taskId);

    // One notice per bidder that stands ACCEPTED: none for the decliner or the silent agent.
    expect(summary).toEqual({ task_id: taskId, task_status: "AWARDED", enqueued: 3 });
    expect(outcomes.map((o) => [o.agent_id, o.kind, o.status]).sort()).toEqual(
      [
        [agents.newcomer.id, "AWARD", "DELIVERED"],
        [agents.veteran.id, "REJECTION", "DELIVERED"],
        [agents.mediocre.id, "REJECTION", "DELIVERED"],
      ].sort(),
    );
    expect(noticeStates((await record(taskId)).bids)).toEqual({
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
    // The runs that lost the race found it decided, and did nothing.
    expect(outcomes.filter((o) => o.kind !== "AWARDED")).toEqual(
      Array.from({ length: 4 }, () => ({ kind: "SETTLED", task_id: taskId, status: "AWARDED" })),
    );
    expect(await awardItems(taskId)).toHaveLength(1);
    expect((await record(taskId)).award?.agent_id).toBe(agents.veteran.id);

    // One award item, so the stream relays one notify for the task.
    await relay(taskId);

    expect((await inbox("veteran")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["REJECTION"]);
    expect((await inbox("newcomer")).map((m) => m.body.type)).toEqual(["REJECTION"]);
    expect(await inbox("silent")).toEqual([]);
  });

  it("a notify run after a crash sends only the notices not yet delivered, and a second run sends none", async () => {
    const { taskId, deadline } = await openTask("2030-03-01T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre", "newcomer"]);
    await bid(taskId, "veteran", 10);
    await bid(taskId, "mediocre", 11);
    await bid(taskId, "newcomer", 12);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);
    // The award committed; an earlier delivery run got one rejection through, failed another, and
    // crashed before the AWARD. The stream record of the award is still owed to its consumer.
    await services.award({
      task_id: taskId,
      agent_id: agents.veteran.id,
      bid_amount: 10,
      status: "AWARDED",
    });
    await bidding.recordNotice(taskId, agents.mediocre.id, "REJECTION", "DELIVERED");
    await bidding.recordNotice(taskId, agents.newcomer.id, "REJECTION", "FAILED");

    // An award run (sweeper, bid worker) finds the task decided and sends nothing.
    expect(await awardService().evaluate(taskId)).toEqual({
      kind: "SETTLED",
      task_id: taskId,
      status: "AWARDED",
    });
    expect(await inbox("veteran")).toEqual([]);

    // The stream relays the award (a replayed record, or the first delivery of it): DELIVERED is skipped.
    const healed = await relay(taskId);
    // Delivered at least once: a second relay of the same record finds nothing owed.
    const again = await relay(taskId);

    expect(healed.summary.enqueued).toBe(2);
    expect(healed.outcomes.map((o) => [o.agent_id, o.kind, o.status]).sort()).toEqual(
      [
        [agents.veteran.id, "AWARD", "DELIVERED"],
        [agents.newcomer.id, "REJECTION", "DELIVERED"],
      ].sort(),
    );
    expect(again).toEqual({
      summary: { task_id: taskId, task_status: "AWARDED", enqueued: 0 },
      outcomes: [],
    });
    expect((await inbox("veteran")).map((m) => m.body)).toEqual([
      expect.objectContaining({
        type: "AWARD",
        agent_id: agents.veteran.id,
        awarded_at: new Date(Date.parse(deadline) + DEADLINE_GRACE_MS).toISOString(),
      }),
    ]);
    expect((await inbox("newcomer")).map((m) => m.body.type)).toEqual(["REJECTION"]);
    expect(await inbox("mediocre")).toEqual([]);
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
    await relay(taskId);

    expect(Date.parse(deadline)).toBeGreaterThan(clock.getTime());
    expect(outcome.kind).toBe("AWARDED");
    // mediocre 0.4 + 0.3 × 3.1/7 + 0.2 × 3.4/7 + 0.1 = 0.73; newcomer 0.4 × 8/9 + 0.21 + 0.12 + 0.1 = 0.785556
    expect((await record(taskId)).award).toMatchObject({ agent_id: agents.newcomer.id, bid_amount: 9 });
    expect((await inbox("newcomer")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["REJECTION"]);
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
    // An open task owes no notice, even if a notify were asked for it.
    expect((await relay(taskId)).summary).toMatchObject({ task_status: "OPEN", enqueued: 0 });
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
    // The move to NO_BIDS is relayed too; with no ACCEPTED bid it owes nobody anything.
    const { summary, outcomes } = await relay(taskId);

    expect(outcome).toEqual({ kind: "NO_BIDS", task_id: taskId });
    expect((await services.tasks.get(taskId)).task.status).toBe("NO_BIDS");
    expect(await awardItems(taskId)).toEqual([]);
    expect((await services.taskRepo.openTasksDueBy(deadline)).items.map((i) => i.task_id)).not.toContain(
      taskId,
    );
    expect(summary).toEqual({ task_id: taskId, task_status: "NO_BIDS", enqueued: 0 });
    expect(outcomes).toEqual([]);
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
    await relay(taskId);

    expect(outcome.kind === "AWARDED" && outcome.ranking.map((c) => c.bid.agent_id)).toEqual([
      agents.mediocre.id,
    ]);
    expect((await record(taskId)).award).toMatchObject({ agent_id: agents.mediocre.id, bid_amount: 10 });
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["AWARD"]);
    const [rejection, ...extra] = await inbox("veteran");
    expect(extra).toEqual([]);
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
    // The stream relays the task's move to NO_BIDS.
    await relay(taskId);

    expect(outcome.kind).toBe("NO_BIDS");
    expect((await services.tasks.get(taskId)).task.status).toBe("NO_BIDS");
    expect((await inbox("veteran")).map((m) => [m.body.type, m.body.reason])).toEqual([
      ["REJECTION", "OVER_BUDGET: bid 6 exceeds the budget 5"],
    ]);
    expect(noticeStates((await record(taskId)).bids)).toEqual({
      [agents.veteran.id]: ["REJECTION", "DELIVERED"],
    });
  });

  it("an agent kill-switched after bidding cannot win, and is told why", async () => {
    const { taskId, deadline } = await openTask("2030-07-20T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre"]);
    await bid(taskId, "veteran", 10);
    await bid(taskId, "mediocre", 10);
    await services.agents.setKillSwitch(agents.veteran.id, true, TEST_OPERATOR);
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);
    try {
      const outcome = await awardService().evaluate(taskId);
      // Relayed while the kill switch is still on.
      await relay(taskId);

      expect(outcome.kind).toBe("AWARDED");
      expect((await record(taskId)).award?.agent_id).toBe(agents.mediocre.id);
      expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["AWARD"]);
      expect((await inbox("veteran")).map((m) => [m.body.type, m.body.reason])).toEqual([
        ["REJECTION", "INELIGIBLE: the agent was suspended or kill-switched before the award"],
      ]);
    } finally {
      await services.agents.setKillSwitch(agents.veteran.id, false, TEST_OPERATOR);
    }
  });

  it("an unreachable bidder gets FAILED after 3 attempts, left for the queue to retry, without holding back the other notices", async () => {
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
    // A delivery queue of its own: the failed job stays on it (for SQS to offer again), not on the
    // queue the other tests deliver from.
    const queue = await useTestQueue("award-delivery-gone");

    const outcome = await awardService().evaluate(taskId);
    const { outcomes } = await noticeRelay(queue).relay(taskId);

    expect(outcome.kind).toBe("AWARDED");
    expect(
      Object.fromEntries(outcomes.map((o) => [o.agent_id, [o.kind, o.status, o.attempts, o.retry]])),
    ).toEqual({
      [agents.newcomer.id]: ["AWARD", "DELIVERED", 1, false],
      [gone]: ["REJECTION", "FAILED", 3, true],
    });
    expect(noticeStates((await record(taskId)).bids)).toEqual({
      [agents.newcomer.id]: ["AWARD", "DELIVERED"],
      [gone]: ["REJECTION", "FAILED"],
    });
    expect((await inbox("newcomer")).map((m) => m.body.type)).toEqual(["AWARD"]);
    // Not dead-lettered: it waits out its visibility timeout on the delivery queue.
    expect(await drainQueue(queue.client, queue.dlqUrl)).toEqual([]);
  });

  it("the approval seam can hold an award in PENDING_APPROVAL: nothing is sent until it is approved", async () => {
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

    expect(outcome).toMatchObject({ kind: "AWARDED", award: { status: "PENDING_APPROVAL" } });
    expect(
      seen.map(({ candidate, task }) => [candidate.profile.agent_id, candidate.rank, task.task_id]),
    ).toEqual([[agents.veteran.id, 1, taskId]]);
    const stored = await record(taskId);
    expect(stored.task.status).toBe("PENDING_APPROVAL");
    expect(stored.award).toMatchObject({ agent_id: agents.veteran.id, status: "PENDING_APPROVAL" });
    // A held award owes no notice, not even the rejections: a notify for it plans nothing.
    expect(await relay(taskId)).toEqual({
      summary: { task_id: taskId, task_status: "PENDING_APPROVAL", enqueued: 0 },
      outcomes: [],
    });
    expect(await inbox("veteran")).toEqual([]);
    expect(await inbox("newcomer")).toEqual([]);
    // A later run (sweeper, bid worker) leaves a held award alone.
    clock = new Date(Date.parse(deadline) + 10 * MINUTE);
    expect(await awardService({ approval }).evaluate(taskId)).toEqual({
      kind: "SETTLED",
      task_id: taskId,
      status: "PENDING_APPROVAL",
    });
    expect(await inbox("veteran")).toEqual([]);

    // Approved: the award becomes AWARDED, which the stream relays; now the notices go out.
    expect(await services.taskRepo.approvePendingAward(taskId, agents.veteran.id)).toBe("APPROVED");
    await relay(taskId);

    expect((await record(taskId)).award?.status).toBe("AWARDED");
    expect((await inbox("veteran")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("newcomer")).map((m) => [m.body.type, String(m.body.reason).split(":")[0]])).toEqual([
      ["REJECTION", "OUTBID"],
    ]);
  });

  it("the award transaction removes the bid window; a crash before any notice is healed by the stream, not the sweeper", async () => {
    const { taskId, deadline } = await openTask("2030-02-01T00:00:00.000Z");
    await invite(taskId, ["veteran", "mediocre"]);
    await bid(taskId, "veteran", 12);
    await bid(taskId, "mediocre", 9);
    const dueBefore = await services.taskRepo.openTasksDueBy(deadline, { limit: 100 });
    // The deciding run committed the award and died before anything else (re-sending is not the
    // sweeper's job: it only visits tasks with a bid window).
    await services.award({
      task_id: taskId,
      agent_id: agents.mediocre.id,
      bid_amount: 9,
      status: "AWARDED",
    });

    clock = new Date(Date.parse(deadline) + 10 * MINUTE);
    const due = await services.taskRepo.openTasksDueBy(clock.toISOString(), { limit: 100 });

    expect(dueBefore.items.map((t) => t.task_id)).toContain(taskId);
    expect(due.items.map((t) => t.task_id)).not.toContain(taskId);
    // The award item reached the stream when it was written; its relay sends the notices.
    await relay(taskId);
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("veteran")).map((m) => m.body.type)).toEqual(["REJECTION"]);
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
    // The stream relays the two awards and the move to NO_BIDS (which owes nobody a notice).
    for (const { taskId } of [first, second, third]) await relay(taskId);
    expect((await inbox("veteran")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect((await inbox("mediocre")).map((m) => m.body.type)).toEqual(["AWARD"]);
    expect(await inbox("newcomer")).toEqual([]);
    expect((await awards.sweep(clock)).examined).toBe(0);
  });

  it("the deployed wiring awards a task past its deadline (sweeper), and relays its AWARD (stream → dispatch worker → delivery worker)", async () => {
    // Real clock here: a deadline years before any other in this file is the only one due now.
    const { taskId } = await openTask("2001-01-01T00:00:00.000Z");
    await invite(taskId, ["newcomer", "silent"]);
    await bid(taskId, "newcomer", 3);
    const dispatchQueue = await useTestQueue("award-dispatch");
    const deliveryQueue = await useTestQueue("award-wired-delivery");
    const config = loadConfig({
      AGENTFORGE_LOCAL: "true",
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      SQS_ENDPOINT: bidsQueue.endpoint,
      BIDS_QUEUE_URL: bidsQueue.queueUrl,
      DISPATCH_QUEUE_URL: dispatchQueue.queueUrl,
      DELIVERY_QUEUE_URL: deliveryQueue.queueUrl,
    });
    const sweeper = buildAwardSweeper(config);
    const context = { getRemainingTimeInMillis: () => 60_000 } as Context;

    const summary = await sweeper.sweep({ scheduled_time: new Date().toISOString() }, context);

    expect(summary).toMatchObject({ examined: 1, awarded: 1, failed: 0, more: false });
    expect(await inbox("newcomer")).toEqual([]);

    // The stream record of the award item as written (read back raw), fed to the task stream function.
    const { Item: awardImage } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `TASK#${taskId}` }, SK: { S: "AWARD" } },
        ConsistentRead: true,
      }),
    );
    const streamRecord = {
      eventID: randomUUID(),
      eventName: "INSERT",
      eventVersion: "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: "us-east-1",
      dynamodb: { NewImage: awardImage, SequenceNumber: "100", StreamViewType: "NEW_AND_OLD_IMAGES" },
      eventSourceARN: `arn:aws:dynamodb:us-east-1:000000000000:table/${table.tableName}/stream/x`,
    } as DynamoDBRecord;
    await buildTaskStreamEnqueuer(config).handle({ Records: [streamRecord] });
    const { batches } = await runDispatchWorker(config, dispatchQueue);
    const deliveryWorker = buildDeliveryWorker(config);
    const deliverySource = createSqsEventSource({
      client: deliveryQueue.client,
      queueUrl: deliveryQueue.queueUrl,
      handler: (event) => deliveryWorker.handle(event),
    });
    // The first poll waits up to a second (the mapping long-polls): a short poll right after the
    // send was once seen to come back empty from the emulator.
    const delivered = (await deliverySource.pollOnce(1)).received + (await deliverySource.drain());

    expect(batches).toEqual([
      { bodies: [{ task_id: taskId, kind: "notify" }], response: { batchItemFailures: [] } },
    ]);
    expect(delivered).toBe(1);
    const [award, ...extra] = await inbox("newcomer");
    expect(extra).toEqual([]);
    expect(award?.body).toMatchObject({ type: "AWARD", task_id: taskId, reply_to: bidsQueue.queueUrl });
    expect(verifyBodySignature(agents.newcomer.secret, award?.raw ?? "", award?.signature)).toBe(true);
    expect(await inbox("silent")).toEqual([]);
  });
});
