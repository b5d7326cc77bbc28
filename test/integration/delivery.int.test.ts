import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, DeleteQueueCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createEndpointCircuitRepository } from "../../src/adapters/dynamo/endpoint-circuit.repository.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { createAwardService } from "../../src/domain/bidding/award.service.js";
import { createDispatchService, type DispatchService } from "../../src/domain/bidding/dispatch.service.js";
import { generateAgentSecret } from "../../src/domain/bidding/signing.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import { type BlackHole, startBlackHole } from "../helpers/black-hole.js";
import { useTestDelivery } from "../helpers/delivery.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { drainQueue, type TestQueue, useTestQueue } from "../helpers/sqs.js";

/**
 * The delivery queue and worker against DynamoDB Local and the SQS emulator: notices retried by the
 * queue without holding up anyone else, the per-endpoint circuit breaker, and failed deliveries
 * counting as not answering. Dead endpoints are a loopback TCP server that accepts and never answers.
 */
describe("delivery: one job per agent, dead endpoints isolated", () => {
  let table: TestTable;
  let bids: TestQueue;
  let services: ReturnType<typeof servicesFor>;
  let bidding: BiddingRepository;
  let blackHole: BlackHole;
  /** An HTTP endpoint that hangs (never answers) while `hanging`, and answers 200 otherwise. */
  let toggle: Server;
  let toggleBase: string;
  let hanging = true;
  let toggleHits = 0;
  const agentQueues: string[] = [];
  const sender = () =>
    createEndpointSender({
      sqs: createSqsEndpointSender({ client: bids.client }),
      https: createHttpsEndpointSender({ allowLoopback: true, timeoutMs: 150 }),
    });

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    table = await useTestTable();
    bids = await useTestQueue("bids");
    services = servicesFor(table);
    bidding = createBiddingRepository({ service: table.service });
    blackHole = await startBlackHole();
    toggle = createServer((req, res) => {
      toggleHits += 1;
      req.resume();
      if (!hanging) res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => toggle.listen(0, "127.0.0.1", resolve));
    toggleBase = `http://127.0.0.1:${(toggle.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await blackHole.close();
    toggle.closeAllConnections();
    await new Promise((resolve) => toggle.close(resolve));
    await Promise.all(
      agentQueues.map((QueueUrl) => bids.client.send(new DeleteQueueCommand({ QueueUrl })).catch(() => {})),
    );
  });

  const cap = () => `cap-${randomUUID().slice(0, 8)}`;
  const deadEndpoint = (agentId: string) => `https://127.0.0.1:${blackHole.port}/${agentId}`;

  async function sqsAgent(name: string, capabilities: string[]) {
    const { QueueUrl } = await bids.client.send(
      new CreateQueueCommand({ QueueName: `agentforge-test-agent-${name}-${randomUUID().slice(0, 8)}` }),
    );
    if (!QueueUrl) throw new Error("no queue URL");
    agentQueues.push(QueueUrl);
    const agentId = `${name}-${randomUUID().slice(0, 8)}`;
    await services.agents.register(
      { agent_id: agentId, capabilities, cost_model: "green", bidding_endpoint: QueueUrl },
      TEST_OPERATOR,
    );
    return { agentId, queueUrl: QueueUrl };
  }

  /** Saves a registration through the repository (the service refuses loopback http URLs for HTTPS agents). */
  const saveAgent = (agentId: string, capabilities: string[], endpoint: string, kind: "https" | "sqs") =>
    services.agentRepo.saveRegistration(
      {
        agent_id: agentId,
        capabilities: [...capabilities].sort(),
        cost_model: "yellow",
        bidding_endpoint: endpoint,
        endpoint_kind: kind,
      },
      { secretIfNew: generateAgentSecret() },
    );

  /** An agent whose HTTPS endpoint accepts connections and never answers. */
  async function deadAgent(name: string, capabilities: string[]) {
    const agentId = `${name}-${randomUUID().slice(0, 8)}`;
    await saveAgent(agentId, capabilities, deadEndpoint(agentId), "https");
    return { agentId, capabilities };
  }

  async function openTask(capabilities: string[], deadlineMs = 300_000) {
    const { task } = await services.tasks.create({
      task_id: issueUrl(),
      title: "Deliver through a crowd of dead endpoints",
      required_capabilities: capabilities,
      bid_deadline: new Date(Date.now() + deadlineMs).toISOString(),
    });
    return task;
  }

  const rawItem = async (pk: string, sk: string) =>
    (
      await table.raw.send(
        new GetItemCommand({
          TableName: table.tableName,
          Key: { PK: { S: pk }, SK: { S: sk } },
          ConsistentRead: true,
        }),
      )
    ).Item;

  const bid = (taskId: string, agentId: string, amount: number) =>
    bidding.acceptBid(taskId, agentId, {
      bid_amount: amount,
      estimated_completion_sec: 600,
      sent_at: new Date().toISOString(),
    });

  function dispatcherWith(
    queue: TestQueue,
    circuit = createEndpointCircuitRepository({ service: table.service }),
  ) {
    const awards = createAwardService({ tasks: services.taskRepo, bidding, agents: services.agentRepo });
    const delivery = useTestDelivery(queue, table.service, {
      agents: services.agentRepo,
      bidding,
      sender: sender(),
      circuit,
      awards,
      retry: { baseDelayMs: 5, maxDelayMs: 10 },
    });
    const dispatcher: DispatchService = createDispatchService({
      agents: services.agentRepo,
      bidding,
      tasks: services.taskRepo,
      deliveries: delivery.deliveries,
      bidsQueueUrl: bids.queueUrl,
    });
    return { dispatcher, delivery, awards };
  }

  it("dead endpoints sorted first count as not answering: the award follows the live bids, long before the deadline", async () => {
    const c = cap();
    const dead = await Promise.all(Array.from({ length: 12 }, (_, i) => deadAgent(`a-dead-${i}`, [c])));
    const live = await Promise.all([sqsAgent("z-live-0", [c]), sqsAgent("z-live-1", [c])]);
    const task = await openTask([c]);
    const { dispatcher, delivery } = dispatcherWith(await useTestQueue("delivery"));

    expect(await dispatcher.dispatch(task.task_id)).toMatchObject({ invited: 14, enqueued: 14 });
    const outcomes = await delivery.deliverAll();

    expect(
      outcomes
        .filter((o) => o.status === "FAILED")
        .map((o) => o.agent_id)
        .sort(),
    ).toEqual(dead.map((d) => d.agentId).sort());
    for (const agent of live) expect(await drainQueue(bids.client, agent.queueUrl)).toHaveLength(1);
    const counters = await rawItem(`TASK#${task.task_id}`, "TASK");
    expect(counters).toMatchObject({
      invited_count: { N: "14" },
      unreachable_count: { N: "12" },
      status: { S: "OPEN" },
    });

    // The live agents bid; the last answer leaves nobody to wait for.
    await bid(task.task_id, live[0].agentId, 30);
    await bid(task.task_id, live[1].agentId, 20);
    const { awards } = dispatcherWith(await useTestQueue("delivery"));
    await awards.awardIfDue(task.task_id);

    const award = await rawItem(`TASK#${task.task_id}`, "AWARD");
    expect(award).toMatchObject({ agent_id: { S: live[1].agentId }, status: { S: "AWARDED" } });
    // Decided well before its deadline (five minutes out).
    expect(Date.parse(award?.awarded_at?.S ?? "")).toBeLessThan(
      Date.parse(task.bid_deadline ?? "") - 200_000,
    );
  });

  it("a dead agent that answers anyway moves from unreachable to answered, counted once", async () => {
    const c = cap();
    const late = await deadAgent("a-dead-but-bids", [c]);
    const other = await sqsAgent("z-other", [c]);
    const task = await openTask([c]);
    const { dispatcher, delivery } = dispatcherWith(await useTestQueue("delivery"));
    await dispatcher.dispatch(task.task_id);
    await delivery.deliverAll();
    expect(await rawItem(`TASK#${task.task_id}`, "TASK")).toMatchObject({ unreachable_count: { N: "1" } });

    await bid(task.task_id, late.agentId, 10);
    // And a revision: still one answer.
    await bid(task.task_id, late.agentId, 9);

    const counters = await rawItem(`TASK#${task.task_id}`, "TASK");
    expect(counters).toMatchObject({
      invited_count: { N: "2" },
      answered_count: { N: "1" },
      unreachable_count: { N: "0" },
    });
    expect(await rawItem(`TASK#${task.task_id}`, `BID#${late.agentId}`)).toMatchObject({
      status: { S: "ACCEPTED" },
      bid_amount: { N: "9" },
      delivery_status: { S: "FAILED" },
      counted_unreachable: { BOOL: true },
    });
    expect(await drainQueue(bids.client, other.queueUrl)).toHaveLength(1);
  });

  it("a notice to a dead endpoint is retried by the queue without holding up another award's notices", async () => {
    const c = cap();
    const stalled = await deadAgent("a-winner-dead", [c]);
    const loser = await sqsAgent("b-loser", [c]);
    const healthy = await sqsAgent("c-winner-live", [c]);
    const deadTask = await openTask([c]);
    const liveTask = await openTask([c]);
    await bidding.invite(deadTask.task_id, [stalled.agentId, loser.agentId]);
    await bidding.invite(liveTask.task_id, [healthy.agentId]);
    await bid(deadTask.task_id, stalled.agentId, 10);
    await bid(deadTask.task_id, loser.agentId, 50);
    await bid(liveTask.task_id, healthy.agentId, 10);
    for (const [task, winner] of [
      [deadTask, stalled],
      [liveTask, healthy],
    ] as const) {
      await services.award({
        task_id: task.task_id,
        agent_id: winner.agentId,
        bid_amount: 10,
        status: "AWARDED",
      });
    }
    // A visibility timeout of 5 s stands in for the deployed 180 s before SQS offers a failed job again.
    const queue = await useTestQueue("delivery", { VisibilityTimeout: "5" });
    const { dispatcher, delivery } = dispatcherWith(queue);

    expect(await dispatcher.notify(deadTask.task_id)).toMatchObject({ enqueued: 2 });
    expect(await dispatcher.notify(liveTask.task_id)).toMatchObject({ enqueued: 1 });
    const first = await delivery.deliverAll();

    // The others' notices went out once each; the dead winner's failed (on a slow machine the
    // queue may already have offered it again within this round: every try failed, none was lost).
    const others = first.filter((o) => o.agent_id !== stalled.agentId);
    expect(others.map((o) => [o.agent_id, o.kind, o.status, o.retry]).sort()).toEqual(
      [
        [loser.agentId, "REJECTION", "DELIVERED", false],
        [healthy.agentId, "AWARD", "DELIVERED", false],
      ].sort(),
    );
    const tries = first.filter((o) => o.agent_id === stalled.agentId);
    expect(tries.length).toBeGreaterThanOrEqual(1);
    for (const attempt of tries)
      expect(attempt).toMatchObject({ kind: "AWARD", status: "FAILED", retry: true });
    expect(
      (await drainQueue(bids.client, healthy.queueUrl)).map((m) => JSON.parse(m.Body ?? "").type),
    ).toEqual(["AWARD"]);
    expect(await rawItem(`TASK#${deadTask.task_id}`, `BID#${stalled.agentId}`)).toMatchObject({
      notice: { S: "AWARD" },
      notice_status: { S: "FAILED" },
    });
    // The failed job stays on the queue for its next offer (the redelivery below proves it), not in the DLQ.
    expect(await drainQueue(queue.client, queue.dlqUrl)).toEqual([]);

    // The winner fixes its endpoint (a live queue now); the queue's next offer reaches it there.
    const { QueueUrl: fixed } = await bids.client.send(
      new CreateQueueCommand({ QueueName: `agentforge-test-fixed-${randomUUID().slice(0, 8)}` }),
    );
    agentQueues.push(fixed as string);
    await saveAgent(stalled.agentId, [c], fixed as string, "sqs");
    await new Promise((resolve) => setTimeout(resolve, 5200));
    const second = await delivery.deliverAll();

    expect(second.map((o) => [o.agent_id, o.kind, o.status])).toEqual([
      [stalled.agentId, "AWARD", "DELIVERED"],
    ]);
    expect(
      (await drainQueue(bids.client, fixed as string)).map((m) => JSON.parse(m.Body ?? "").type),
    ).toEqual(["AWARD"]);
    expect(await rawItem(`TASK#${deadTask.task_id}`, `BID#${stalled.agentId}`)).toMatchObject({
      notice_status: { S: "DELIVERED" },
    });
  });

  it("the circuit opens after K failures, skips sends as CIRCUIT_OPEN without a connection, and a trial after the cool-down closes it", async () => {
    const c = cap();
    const agentId = `a-flaky-${randomUUID().slice(0, 8)}`;
    await saveAgent(agentId, [c], `${toggleBase}/${agentId}`, "https");
    let clock = Date.now();
    const circuit = createEndpointCircuitRepository({
      service: table.service,
      failureThreshold: 2,
      cooldownMs: 60_000,
      now: () => new Date(clock),
    });
    const { dispatcher, delivery } = dispatcherWith(await useTestQueue("delivery"), circuit);
    hanging = true;

    for (const task of [await openTask([c]), await openTask([c])]) {
      await dispatcher.dispatch(task.task_id);
      expect(await delivery.deliverAll()).toMatchObject([
        { status: "FAILED", attempts: 3, circuit_open: false },
      ]);
    }
    expect(await rawItem(`AGENT#${agentId}`, "CIRCUIT")).toMatchObject({
      state: { S: "OPEN" },
      consecutive_failures: { N: "2" },
    });

    // Open: the third task's request is not tried at all, and is recorded as such.
    const hits = toggleHits;
    const third = await openTask([c]);
    await dispatcher.dispatch(third.task_id);
    const [skipped] = await delivery.deliverAll();
    expect(skipped).toMatchObject({ status: "FAILED", attempts: 0, circuit_open: true });
    expect(skipped?.error).toMatch(/^CIRCUIT_OPEN: /);
    expect(toggleHits).toBe(hits);
    expect(await rawItem(`TASK#${third.task_id}`, `BID#${agentId}`)).toMatchObject({
      delivery_status: { S: "FAILED" },
      delivery_attempts: { N: "0" },
      delivery_error: { S: expect.stringMatching(/^CIRCUIT_OPEN: /) },
    });

    // The endpoint recovers; after the cool-down one trial goes through and closes the circuit.
    hanging = false;
    clock += 61_000;
    const fourth = await openTask([c]);
    await dispatcher.dispatch(fourth.task_id);
    expect(await delivery.deliverAll()).toMatchObject([{ status: "DELIVERED", circuit_open: false }]);
    expect(toggleHits).toBe(hits + 1);
    expect(await rawItem(`AGENT#${agentId}`, "CIRCUIT")).toMatchObject({
      state: { S: "CLOSED" },
      consecutive_failures: { N: "0" },
    });
  });
});
