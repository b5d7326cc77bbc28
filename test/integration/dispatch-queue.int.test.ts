import { randomUUID } from "node:crypto";
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  buildDeliveryWorker,
  buildDispatchWorker,
  buildTaskStreamEnqueuer,
} from "../../functions/shared/container.js";
import { type Config, loadConfig } from "../../src/config.js";
import { SIGNATURE_ATTRIBUTE } from "../../src/domain/bidding/messages.js";
import { verifyBodySignature } from "../../src/domain/bidding/signing.js";
import { createDynamoStreamSource, type DynamoStreamSource } from "../../src/local/dynamodb-stream-source.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import { functionById, matchesStreamFilters } from "../../src/topology.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { drainQueue, type TestQueue, useTestQueue } from "../helpers/sqs.js";

/**
 * The deployed dispatch path end to end on DynamoDB Local and the SQS emulator: the table's real
 * stream (read by the local stream source with the topology's filter) → the task stream enqueuer →
 * a real dispatch queue with a DLQ → the dispatch worker's batch handler → the delivery queue → the
 * delivery worker's batch handler → agents' own queues.
 */
describe("dispatch through the dispatch queue", () => {
  let table: TestTable;
  let dispatchQueue: TestQueue;
  let deliveryQueue: TestQueue;
  let bids: TestQueue;
  let services: ReturnType<typeof servicesFor>;
  let config: Config;
  let stream: DynamoStreamSource;
  const agentQueues: string[] = [];

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    table = await useTestTable();
    dispatchQueue = await useTestQueue("dispatch");
    deliveryQueue = await useTestQueue("delivery");
    bids = await useTestQueue("bids");
    services = servicesFor(table);
    config = loadConfig({
      AGENTFORGE_LOCAL: "true",
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      SQS_ENDPOINT: bids.endpoint,
      BIDS_QUEUE_URL: bids.queueUrl,
      DELIVERY_QUEUE_URL: deliveryQueue.queueUrl,
    });
    const trigger = functionById("task-stream").trigger;
    if (trigger.kind !== "stream") throw new Error("task-stream must be a stream consumer");
    // One source for the file, so its checkpoints carry over from test to test.
    stream = createDynamoStreamSource({
      endpoint: table.endpoint,
      tableName: table.tableName,
      handler: buildTaskStreamEnqueuer(config, dispatchQueue.queueUrl).handle,
      filter: (record) => matchesStreamFilters(trigger.filters, record),
      batchSize: trigger.batchSize,
      logger: { info: () => {}, warn: () => {}, error: () => {} },
      sleep: async () => {},
    });
  });

  afterAll(async () => {
    await stream.stop();
    await Promise.all(
      agentQueues.map((QueueUrl) => bids.client.send(new DeleteQueueCommand({ QueueUrl })).catch(() => {})),
    );
  });

  /** An agent on its own new emulator queue, registered through the agent service. */
  async function sqsAgent(capability: string) {
    const { QueueUrl } = await bids.client.send(
      new CreateQueueCommand({ QueueName: `agentforge-test-agent-${randomUUID().slice(0, 8)}` }),
    );
    if (!QueueUrl) throw new Error("emulator returned no queue URL");
    agentQueues.push(QueueUrl);
    const { secret } = await services.agents.register(
      {
        agent_id: `agent-${randomUUID().slice(0, 8)}`,
        capabilities: [capability],
        cost_model: "green",
        bidding_endpoint: QueueUrl,
      },
      TEST_OPERATOR,
    );
    if (!secret) throw new Error("registration returned no secret");
    return { queueUrl: QueueUrl, secret };
  }

  async function openTask(capability: string) {
    const { task } = await services.tasks.create({
      task_id: issueUrl(),
      title: "Make the dispatch path a queue",
      required_capabilities: [capability],
      bid_deadline: new Date(Date.now() + 300_000).toISOString(),
    });
    return task;
  }

  /**
   * The worker behind the local SQS event source. Batches of up to 10 (the deployed batch size is 1;
   * records run in order either way) let one poll take every message a test queued.
   */
  const worker = () =>
    createSqsEventSource({
      client: dispatchQueue.client,
      queueUrl: dispatchQueue.queueUrl,
      handler: buildDispatchWorker(config).handle,
      batchSize: 10,
    });

  /** The delivery worker over the delivery queue until it is empty; how many jobs it took. */
  const deliver = async () => {
    const source = createSqsEventSource({
      client: deliveryQueue.client,
      queueUrl: deliveryQueue.queueUrl,
      handler: buildDeliveryWorker(config).handle,
    });
    // The first poll waits up to a second: the emulator can answer a poll made just after a send empty.
    const first = await source.pollOnce(1);
    return first.received + (await source.drain());
  };

  const messagesOn = async (queueUrl: string) => {
    const { Attributes } = await dispatchQueue.client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages"] }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  };

  it("a new task's stream INSERT becomes one dispatch message; the worker sends its signed bid request", async () => {
    const capability = `go-${randomUUID().slice(0, 8)}`;
    const agent = await sqsAgent(capability);
    const task = await openTask(capability);

    await stream.drain();
    const queued = await drainQueue(dispatchQueue.client, dispatchQueue.queueUrl);

    // The agent profile, capability edges, bid window and task writes all hit the stream; only the task is queued.
    expect(queued.map((m) => JSON.parse(m.Body ?? ""))).toEqual([{ task_id: task.task_id }]);

    // Put the message back, as read, for the worker.
    await dispatchQueue.client.send(
      new SendMessageCommand({ QueueUrl: dispatchQueue.queueUrl, MessageBody: queued[0]?.Body ?? "" }),
    );
    const round = await worker().pollOnce();

    expect(round).toEqual({ received: 1, failed: 0 });
    expect(await deliver()).toBe(1);
    const requests = await drainQueue(bids.client, agent.queueUrl);
    expect(requests).toHaveLength(1);
    const body = requests[0]?.Body ?? "";
    expect(JSON.parse(body)).toMatchObject({
      type: "BID_REQUEST",
      task_id: task.task_id,
      reply_to: bids.queueUrl,
    });
    expect(
      verifyBodySignature(
        agent.secret,
        body,
        requests[0]?.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
      ),
    ).toBe(true);
    expect(await messagesOn(dispatchQueue.queueUrl)).toBe(0);
  });

  it("a duplicate dispatch message enqueues nothing more: the agent gets one request", async () => {
    const capability = `rust-${randomUUID().slice(0, 8)}`;
    const agent = await sqsAgent(capability);
    const task = await openTask(capability);
    await stream.drain();
    // The stream's message plus a duplicate, as after a retried stream batch.
    await dispatchQueue.client.send(
      new SendMessageCommand({
        QueueUrl: dispatchQueue.queueUrl,
        MessageBody: JSON.stringify({ task_id: task.task_id }),
      }),
    );

    const round = await worker().pollOnce();

    expect(round).toEqual({ received: 2, failed: 0 });
    expect(await deliver()).toBe(1);
    expect(await drainQueue(bids.client, agent.queueUrl)).toHaveLength(1);
  });

  it("acknowledges malformed messages and unknown tasks: nothing stays on the queue or reaches the DLQ", async () => {
    for (const body of [
      "{",
      JSON.stringify({ task_id: "not-a-url" }),
      JSON.stringify({ task_id: issueUrl() }),
    ]) {
      await dispatchQueue.client.send(
        new SendMessageCommand({ QueueUrl: dispatchQueue.queueUrl, MessageBody: body }),
      );
    }

    const round = await worker().pollOnce();

    expect(round).toEqual({ received: 3, failed: 0 });
    expect(await messagesOn(dispatchQueue.queueUrl)).toBe(0);
    expect(await messagesOn(dispatchQueue.dlqUrl)).toBe(0);
  });

  it("leaves a message whose dispatch failed transiently on the queue for SQS to redeliver", async () => {
    const capability = `zig-${randomUUID().slice(0, 8)}`;
    await sqsAgent(capability);
    const task = await openTask(capability);
    await stream.drain();
    await drainQueue(dispatchQueue.client, dispatchQueue.queueUrl);
    await dispatchQueue.client.send(
      new SendMessageCommand({
        QueueUrl: dispatchQueue.queueUrl,
        MessageBody: JSON.stringify({ task_id: task.task_id }),
      }),
    );
    // A table that does not exist: every read fails the way an outage does.
    const broken = buildDispatchWorker({ ...config, tableName: `missing-${randomUUID().slice(0, 8)}` });

    const round = await createSqsEventSource({
      client: dispatchQueue.client,
      queueUrl: dispatchQueue.queueUrl,
      handler: broken.handle,
    }).pollOnce();

    expect(round).toEqual({ received: 1, failed: 1 });
    // The emulator counts in-flight messages here: the failed one was not deleted.
    expect(await messagesOn(dispatchQueue.queueUrl)).toBe(1);
  });

  it("the enqueuer throws when the dispatch queue cannot take the batch, so the stream retries it", async () => {
    const { QueueUrl } = await dispatchQueue.client.send(
      new CreateQueueCommand({ QueueName: `agentforge-test-gone-${randomUUID().slice(0, 8)}` }),
    );
    if (!QueueUrl) throw new Error("emulator returned no queue URL");
    await dispatchQueue.client.send(new DeleteQueueCommand({ QueueUrl }));
    const capability = `ada-${randomUUID().slice(0, 8)}`;
    const task = await openTask(capability);
    const failures: string[] = [];
    const gone = createDynamoStreamSource({
      endpoint: table.endpoint,
      tableName: table.tableName,
      handler: buildTaskStreamEnqueuer(config, QueueUrl).handle,
      filter: (record) => record.dynamodb?.NewImage?.task_id?.S === task.task_id,
      maxRetryAttempts: 1,
      onFailure: async (info) => {
        failures.push(info.record.dynamodb?.NewImage?.task_id?.S ?? "");
      },
      logger: { info: () => {}, warn: () => {}, error: () => {} },
      sleep: async () => {},
    });

    await gone.drain();
    await gone.stop();

    expect(failures).toContain(task.task_id);
  });
});
