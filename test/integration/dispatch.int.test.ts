import { randomUUID } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand, DeleteQueueCommand, type Message } from "@aws-sdk/client-sqs";
import type { DynamoDBRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { NonceMemory, verifyMarketplaceMessage } from "../../examples/agent/src/protocol.js";
import { buildDeliveryWorker, buildTaskStreamEnqueuer } from "../../functions/shared/container.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { loadConfig } from "../../src/config.js";
import { createDispatchService, type DispatchService } from "../../src/domain/bidding/dispatch.service.js";
import { type BidRequest, SIGNATURE_ATTRIBUTE } from "../../src/domain/bidding/messages.js";
import { generateAgentSecret, verifyBodySignature } from "../../src/domain/bidding/signing.js";
import { NotFoundError } from "../../src/domain/errors.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import { type TestDelivery, useTestDelivery } from "../helpers/delivery.js";
import { runDispatchWorker } from "../helpers/dispatch-worker.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { drainQueue, type TestQueue, useTestQueue } from "../helpers/sqs.js";

/**
 * Bid dispatch against DynamoDB Local and the SQS emulator: the dispatch service fans a task out to
 * one job per agent on a real delivery queue, and the delivery worker (run as its event source
 * mapping would) signs and sends each. Agents are real consumers: each SQS agent has its own queue,
 * read back with ReceiveMessage, and the HTTPS-kind agents are a plain Node HTTP server on 127.0.0.1
 * (local mode allows loopback over http). Capabilities are unique per test so tests sharing the
 * table never see each other's agents.
 */
describe("bid dispatch over real queues and an HTTP endpoint", () => {
  let table: TestTable;
  let bids: TestQueue;
  let services: ReturnType<typeof servicesFor>;
  let bidding: BiddingRepository;
  let dispatcher: DispatchService;
  let delivery: TestDelivery;
  const agentQueues: string[] = [];

  /** The HTTP agents: answers chosen per path, every request recorded. */
  let server: Server;
  let httpBase: string;
  const httpStatus = new Map<string, number>();
  const httpHits: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    table = await useTestTable();
    bids = await useTestQueue("bids");
    services = servicesFor(table);
    bidding = createBiddingRepository({ service: table.service });
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const path = req.url ?? "";
        httpHits.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        res.writeHead(httpStatus.get(path) ?? 200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    httpBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    delivery = useTestDelivery(await useTestQueue("delivery"), table.service, {
      agents: services.agentRepo,
      bidding,
      sender: createEndpointSender({
        sqs: createSqsEndpointSender({ client: bids.client }),
        https: createHttpsEndpointSender({ allowLoopback: true, timeoutMs: 2000 }),
      }),
      awards: { awardIfDue: async () => {} },
      retry: { baseDelayMs: 5, maxDelayMs: 20 },
    });
    dispatcher = createDispatchService({
      agents: services.agentRepo,
      bidding,
      tasks: services.taskRepo,
      deliveries: delivery.deliveries,
      bidsQueueUrl: bids.queueUrl,
    });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await Promise.all(
      agentQueues.map((QueueUrl) => bids.client.send(new DeleteQueueCommand({ QueueUrl })).catch(() => {})),
    );
  });

  const uniqueCap = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

  async function createAgentQueue(name: string): Promise<string> {
    const { QueueUrl } = await bids.client.send(
      new CreateQueueCommand({ QueueName: `agentforge-test-agent-${name}-${randomUUID().slice(0, 8)}` }),
    );
    if (!QueueUrl) throw new Error("emulator returned no queue URL");
    agentQueues.push(QueueUrl);
    return QueueUrl;
  }

  /** Receives and deletes everything on an agent's queue, as the agent would. */
  const consume = (queueUrl: string): Promise<Message[]> => drainQueue(bids.client, queueUrl);

  /** An agent on its own new SQS queue, registered through the agent service. */
  async function sqsAgent(name: string, capabilities: string[]) {
    const queueUrl = await createAgentQueue(name);
    const agentId = `${name}-${randomUUID().slice(0, 8)}`;
    const { secret } = await services.agents.register(
      {
        agent_id: agentId,
        capabilities,
        cost_model: "green",
        bidding_endpoint: queueUrl,
      },
      TEST_OPERATOR,
    );
    if (!secret) throw new Error("registration returned no secret");
    return { agentId, queueUrl, secret };
  }

  /**
   * An HTTPS-kind agent served by the local HTTP server. Registration validation accepts only
   * `https:` URLs for this kind (a loopback `http:` URL would be taken for an emulator queue), so this
   * one is saved through the repository, with a secret generated as the service does.
   */
  async function httpAgent(name: string, capabilities: string[], status = 200) {
    const agentId = `${name}-${randomUUID().slice(0, 8)}`;
    const path = `/agents/${agentId}/bid-requests`;
    httpStatus.set(path, status);
    const { secret } = await services.agentRepo.saveRegistration(
      {
        agent_id: agentId,
        capabilities: [...capabilities].sort(),
        cost_model: "yellow",
        bidding_endpoint: `${httpBase}${path}`,
        endpoint_kind: "https",
      },
      { secretIfNew: generateAgentSecret() },
    );
    if (!secret) throw new Error("registration returned no secret");
    return { agentId, path, secret };
  }

  async function openTask(capabilities: string[], budget?: number) {
    const { task } = await services.tasks.create({
      task_id: issueUrl(),
      title: "Retry webhook deliveries with backoff",
      required_capabilities: capabilities,
      ...(budget !== undefined ? { budget } : {}),
      bid_deadline: new Date(Date.now() + 300_000).toISOString(),
    });
    return task;
  }

  async function bidItems(taskId: string) {
    const record = await services.taskRepo.getTaskRecord(taskId, { consistent: true });
    return Object.fromEntries(
      (record?.bids ?? []).map((b) => [
        b.agent_id,
        { status: b.delivery_status, attempts: b.delivery_attempts, error: b.delivery_error },
      ]),
    );
  }

  const hitsOn = (path: string) => httpHits.filter((h) => h.path === path);

  it("of five agents, exactly the three capable, listed ones get a signed BID_REQUEST", async () => {
    const python = uniqueCap("python");
    const sql = uniqueCap("sql");
    const first = await sqsAgent("capable-a", [python, sql]);
    const second = await sqsAgent("capable-b", [python, sql, uniqueCap("go")]);
    const web = await httpAgent("capable-http", [python, sql]);
    const killed = await sqsAgent("killed", [python, sql]);
    await services.agents.setKillSwitch(killed.agentId, true, TEST_OPERATOR);
    const incapable = await sqsAgent("python-only", [python]);
    const task = await openTask([python, sql], 40);

    const summary = await dispatcher.dispatch(task.task_id);
    const outcomes = await delivery.deliverAll();

    const expected = (agentId: string): BidRequest & { sent_at: string; nonce: string } => ({
      type: "BID_REQUEST",
      task_id: task.task_id,
      agent_id: agentId,
      title: "Retry webhook deliveries with backoff",
      capabilities: [python, sql].sort(),
      budget: 40,
      deadline: task.bid_deadline ?? "",
      reply_to: bids.queueUrl,
      sent_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    expect(summary).toMatchObject({ invited: 3, newly_invited: 3, enqueued: 3, already_settled: 0 });
    expect(outcomes.map((o) => [o.agent_id, o.status]).sort()).toEqual(
      [first.agentId, second.agentId, web.agentId].map((id) => [id, "DELIVERED"]).sort(),
    );
    const nonces = new Set<string>();
    for (const agent of [first, second]) {
      const messages = await consume(agent.queueUrl);
      expect(messages).toHaveLength(1);
      const body = messages[0]?.Body ?? "";
      expect(JSON.parse(body)).toEqual(expected(agent.agentId));
      nonces.add(JSON.parse(body).nonce);
      const signature = messages[0]?.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue;
      // The agent kit, which shares no code with the marketplace, verifies it as an agent would.
      const verify = (secret: string) =>
        verifyMarketplaceMessage(body, signature, {
          agentId: agent.agentId,
          secrets: [secret],
          acceptedAt: new Date(Number(messages[0]?.Attributes?.SentTimestamp)),
          nonces: new NonceMemory(),
        });
      expect(verify(agent.secret)).toMatchObject({ ok: true, message: { type: "BID_REQUEST" } });
      expect(verify(killed.secret)).toMatchObject({ ok: false, reason: "BAD_SIGNATURE" });
    }
    expect(nonces.size).toBe(2);
    expect(await consume(killed.queueUrl)).toEqual([]);
    expect(await consume(incapable.queueUrl)).toEqual([]);

    const [hit] = hitsOn(web.path);
    expect(hitsOn(web.path)).toHaveLength(1);
    expect(hit?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(hit?.body ?? "")).toEqual(expected(web.agentId));
    const header = String(hit?.headers[SIGNATURE_ATTRIBUTE.toLowerCase()]);
    expect(
      verifyMarketplaceMessage(hit?.body ?? "", header, {
        agentId: web.agentId,
        secrets: [web.secret],
        acceptedAt: new Date(),
        nonces: new NonceMemory(),
      }),
    ).toMatchObject({ ok: true });

    expect(await bidItems(task.task_id)).toEqual({
      [first.agentId]: { status: "DELIVERED", attempts: 1 },
      [second.agentId]: { status: "DELIVERED", attempts: 1 },
      [web.agentId]: { status: "DELIVERED", attempts: 1 },
    });
  });

  it("failing endpoints are recorded FAILED with their attempts and count as not answering; a re-run enqueues nothing settled", async () => {
    const cap = uniqueCap("rust");
    const healthy = await sqsAgent("healthy", [cap]);
    const deleted = await sqsAgent("deleted-queue", [cap]);
    await bids.client.send(new DeleteQueueCommand({ QueueUrl: deleted.queueUrl }));
    const broken = await httpAgent("http-500", [cap], 500);
    const task = await openTask([cap]);

    const first = await dispatcher.dispatch(task.task_id);
    const outcomes = await delivery.deliverAll();

    expect(first).toMatchObject({ invited: 3, enqueued: 3 });
    expect(outcomes.filter((o) => o.status === "FAILED")).toHaveLength(2);
    expect(await bidItems(task.task_id)).toEqual({
      [healthy.agentId]: { status: "DELIVERED", attempts: 1 },
      // No such queue cannot be fixed by retrying: one attempt.
      [deleted.agentId]: {
        status: "FAILED",
        attempts: 1,
        error: expect.stringContaining("QueueDoesNotExist"),
      },
      [broken.agentId]: {
        status: "FAILED",
        attempts: 3,
        error: `HTTP 500 from ${new URL(httpBase).host}`,
      },
    });
    expect(hitsOn(broken.path)).toHaveLength(3);
    expect(await consume(healthy.queueUrl)).toHaveLength(1);

    // Both failures count as not answering, once each, on the task's own counters (raw read).
    const { Item: counters } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `TASK#${task.task_id}` }, SK: { S: "TASK" } },
        ConsistentRead: true,
      }),
    );
    expect(counters?.invited_count).toEqual({ N: "3" });
    expect(counters?.unreachable_count).toEqual({ N: "2" });

    // Dispatch runs again (a redelivered dispatch message, say): every delivery is settled, so
    // nothing is enqueued — a dead endpoint is not retried at everyone else's expense.
    httpStatus.set(broken.path, 200);
    const second = await dispatcher.dispatch(task.task_id);

    expect(second).toMatchObject({ invited: 3, newly_invited: 0, enqueued: 0, already_settled: 3 });
    expect(await delivery.deliverAll()).toEqual([]);
    expect(await consume(healthy.queueUrl)).toEqual([]);
    expect(hitsOn(broken.path)).toHaveLength(3);
  });

  it("a task that is not OPEN is not dispatched", async () => {
    const cap = uniqueCap("java");
    const agent = await sqsAgent("would-bid", [cap]);
    const noBids = await openTask([cap]);
    await bidding.beginClosing(noBids.task_id);
    await bidding.closeWithoutBids(noBids.task_id);
    const awarded = await openTask([cap]);
    await services.award({
      task_id: awarded.task_id,
      agent_id: agent.agentId,
      bid_amount: 10,
      status: "AWARDED",
    });

    const results = [await dispatcher.dispatch(noBids.task_id), await dispatcher.dispatch(awarded.task_id)];

    expect(results).toMatchObject([
      { skipped: "NOT_OPEN", task_status: "NO_BIDS", invited: 0 },
      { skipped: "NOT_OPEN", task_status: "AWARDED", invited: 0 },
    ]);
    expect(await consume(agent.queueUrl)).toEqual([]);
    expect(await bidItems(noBids.task_id)).toEqual({});
    expect(await bidItems(awarded.task_id)).toEqual({});
  });

  it("an unknown task is a NotFoundError", async () => {
    await expect(dispatcher.dispatch(issueUrl())).rejects.toThrow(NotFoundError);
  });

  it("the deployed wiring (task stream → dispatch queue → dispatch worker) dispatches a new task from its stream record and ignores the rest", async () => {
    const cap = uniqueCap("kotlin");
    const agent = await sqsAgent("via-stream", [cap]);
    const task = await openTask([cap]);
    const dispatchQueue = await useTestQueue("dispatch");
    const deliveryQueue = await useTestQueue("delivery");
    const config = loadConfig({
      AGENTFORGE_LOCAL: "true",
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      SQS_ENDPOINT: bids.endpoint,
      BIDS_QUEUE_URL: bids.queueUrl,
      DISPATCH_QUEUE_URL: dispatchQueue.queueUrl,
      DELIVERY_QUEUE_URL: deliveryQueue.queueUrl,
    });
    // The stream carries the stored items as written; read them back raw to build the records.
    const image = async (SK: string) => {
      const { Item } = await table.raw.send(
        new GetItemCommand({
          TableName: table.tableName,
          Key: { PK: { S: `TASK#${task.task_id}` }, SK: { S: SK } },
          ConsistentRead: true,
        }),
      );
      return Item as NonNullable<DynamoDBRecord["dynamodb"]>["NewImage"];
    };
    const record = (sequence: string, eventName: DynamoDBRecord["eventName"], NewImage: unknown) =>
      ({
        eventID: randomUUID(),
        eventName,
        eventVersion: "1.1",
        eventSource: "aws:dynamodb",
        awsRegion: "us-east-1",
        dynamodb: { NewImage, SequenceNumber: sequence, StreamViewType: "NEW_AND_OLD_IMAGES" },
        eventSourceARN: `arn:aws:dynamodb:us-east-1:000000000000:table/${table.tableName}/stream/x`,
      }) as DynamoDBRecord;
    const taskImage = await image("TASK");

    await buildTaskStreamEnqueuer(config).handle({
      Records: [
        record("100", "INSERT", taskImage),
        record("101", "INSERT", await image("BID_WINDOW")),
        record("102", "MODIFY", taskImage),
      ],
    });
    // The dispatch worker as its event source mapping runs it; what it was given and answered is kept.
    const { batches, polled } = await runDispatchWorker(config, dispatchQueue);
    // Then the delivery worker, as deployed, over the delivery queue.
    const deliveryWorker = buildDeliveryWorker(config);
    const deliverySource = createSqsEventSource({
      client: deliveryQueue.client,
      queueUrl: deliveryQueue.queueUrl,
      handler: (event) => deliveryWorker.handle(event),
    });
    // The first poll waits up to a second: the emulator can answer a poll made just after a send empty.
    const first = await deliverySource.pollOnce(1);
    expect(first.received + (await deliverySource.drain())).toBe(1);
    expect(await drainQueue(deliveryQueue.client, deliveryQueue.dlqUrl)).toEqual([]);

    // Exactly one dispatch message (the task insert), handled without a failure, nothing left over.
    expect(batches).toEqual([{ bodies: [{ task_id: task.task_id }], response: { batchItemFailures: [] } }]);
    expect(polled).toEqual([
      { received: 1, failed: 0 },
      { received: 0, failed: 0 },
    ]);
    expect(await drainQueue(dispatchQueue.client, dispatchQueue.dlqUrl)).toEqual([]);
    const messages = await consume(agent.queueUrl);
    expect(messages.map((m) => JSON.parse(m.Body ?? "{}").type)).toEqual(["BID_REQUEST"]);
    expect(
      verifyBodySignature(
        agent.secret,
        messages[0]?.Body ?? "",
        messages[0]?.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
      ),
    ).toBe(true);
    expect(await bidItems(task.task_id)).toEqual({ [agent.agentId]: { status: "DELIVERED", attempts: 1 } });
  });
});
