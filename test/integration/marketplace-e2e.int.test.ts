import { type AttributeValue, GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import type { APIGatewayProxyEventV2, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { beforeAll, describe, expect, it, vi } from "vitest";
import {
  type AgentMessage,
  NonceMemory,
  SIGNATURE_ATTRIBUTE,
  type Unsealed,
  verifyMarketplaceMessage,
} from "../../examples/agent/src/protocol.js";
import {
  buildBidWorker,
  buildDeliveryWorker,
  buildIntakeWorker,
  buildReceiverDeps,
  buildRestApi,
  buildTaskStreamEnqueuer,
} from "../../functions/shared/container.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import {
  githubDelivery,
  githubPayload,
  issuesClosedPayload,
  pullRequestMergedPayload,
} from "../fixtures/github.js";
import { type SealedTestMessage, sendSealedAgentMessage } from "../helpers/agent-messages.js";
import { runDispatchWorker } from "../helpers/dispatch-worker.js";
import { type TestTable, useTestTable } from "../helpers/dynamo.js";
import { drainQueue, type TestQueue, useTestQueue } from "../helpers/sqs.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

const API_TOKEN = "marketplace-e2e-token";

interface Agent {
  id: string;
  secret: string;
  queueUrl: string;
  /** The marketplace's nonces this agent has seen, as the agent kit keeps them. */
  nonces: NonceMemory;
}

const MINUTE_MS = 60_000;

/**
 * The whole story through the Lambdas' own composition root, with every queue real (SQS emulator)
 * and every agent a real consumer of its own queue: issue opened → task → task stream → dispatch
 * queue → dispatch worker → bid requests → signed bids
 * → early award → AWARD/REJECTION notices → cost report → merged PR and closed issue → ledger entry
 * and performance history.
 */
describe("marketplace end to end: issue → bids → award → outcome", () => {
  let table: TestTable;
  let intake: TestQueue;
  let dispatch: TestQueue;
  let delivery: TestQueue;
  let bids: TestQueue;
  let config: Config;

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    table = await useTestTable();
    intake = await useTestQueue("e2e-intake");
    dispatch = await useTestQueue("e2e-dispatch");
    delivery = await useTestQueue("e2e-delivery");
    bids = await useTestQueue("e2e-bids");
    config = loadConfig({
      AGENTFORGE_LOCAL: "true",
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      SQS_ENDPOINT: intake.endpoint,
      INTAKE_QUEUE_URL: intake.queueUrl,
      DISPATCH_QUEUE_URL: dispatch.queueUrl,
      DELIVERY_QUEUE_URL: delivery.queueUrl,
      BIDS_QUEUE_URL: bids.queueUrl,
      GITHUB_WEBHOOK_SECRET: "e2e-webhook-secret",
      AGENTFORGE_API_TOKEN: API_TOKEN,
    });
  });

  const api = (method: string, path: string, body?: unknown) =>
    buildRestApi(config).handle({
      rawPath: path,
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      requestContext: { http: { method } },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2);

  async function registerAgent(id: string, capabilities: string[]): Promise<Agent> {
    const { QueueUrl } = await intake.client.send(new CreateQueueCommand({ QueueName: `agent-${id}` }));
    const response = await api("POST", "/agents", {
      agent_id: id,
      capabilities,
      cost_model: "green",
      bidding_endpoint: QueueUrl,
    });
    expect(response.statusCode).toBe(201);
    return {
      id,
      secret: JSON.parse(response.body ?? "{}").bid_secret,
      queueUrl: QueueUrl as string,
      nonces: new NonceMemory(),
    };
  }

  async function webhook(event: string, payload: Payload) {
    const response = await buildReceiverDeps(config).receive(
      githubDelivery({ event, payload, secret: "e2e-webhook-secret" }).event,
    );
    expect(response.statusCode).toBe(202);
    await createSqsEventSource({
      client: intake.client,
      queueUrl: intake.queueUrl,
      handler: buildIntakeWorker(config).handle,
    }).drain();
  }

  /**
   * What an agent finds on its queue, each message verified as the agent kit verifies it (protocol v2:
   * signed with the agent's secret, addressed to it, `sent_at` near SQS's `SentTimestamp`, fresh nonce).
   */
  async function inbox(agent: Agent): Promise<Array<Record<string, unknown>>> {
    const { Messages = [] } = await intake.client.send(
      new ReceiveMessageCommand({
        QueueUrl: agent.queueUrl,
        MaxNumberOfMessages: 10,
        AttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
    );
    return Messages.map((m: Message) => {
      const verified = verifyMarketplaceMessage(
        m.Body ?? "",
        m.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
        {
          agentId: agent.id,
          secrets: [agent.secret],
          acceptedAt: new Date(Number(m.Attributes?.SentTimestamp)),
          nonces: agent.nonces,
          ...(m.MessageId ? { deliveryId: m.MessageId } : {}),
        },
      );
      expect(verified, m.Body).toMatchObject({ ok: true });
      return JSON.parse(m.Body ?? "{}");
    });
  }

  /** An agent's reply on the bids queue, sealed with its secret as the agent kit seals it. */
  const reply = (agent: Agent, replyTo: string, message: Unsealed<AgentMessage>, options?: { now?: Date }) =>
    sendSealedAgentMessage(bids.client, replyTo, message, agent.secret, options);

  /** A captured sealed message put on the bids queue again, byte for byte. */
  const resend = (replyTo: string, sealed: SealedTestMessage) =>
    bids.client.send(
      new SendMessageCommand({
        QueueUrl: replyTo,
        MessageBody: sealed.body,
        MessageAttributes: sealed.attributes,
      }),
    );

  async function runBidWorker() {
    await createSqsEventSource({
      client: bids.client,
      queueUrl: bids.queueUrl,
      handler: buildBidWorker(config).handle,
    }).drain();
  }

  /**
   * The deployed dispatch chain for one stream batch: the task stream function enqueues the new
   * tasks on the dispatch queue, then the dispatch worker consumes that queue through the local SQS
   * event source. Returns what the worker was given and what it answered, one entry per batch.
   */
  async function dispatchFromStream(event: DynamoDBStreamEvent) {
    await buildTaskStreamEnqueuer(config).handle(event);
    const dispatched = await runDispatchWorker(config, dispatch);
    // Then the delivery worker signs and sends each job, as its event source mapping would.
    const deliveries = createSqsEventSource({
      client: delivery.client,
      queueUrl: delivery.queueUrl,
      handler: buildDeliveryWorker(config).handle,
    });
    // The first poll waits up to a second: the emulator can answer a poll made just after a send empty.
    await deliveries.pollOnce(1);
    await deliveries.drain();
    return dispatched;
  }

  /**
   * The table stream's INSERT of one of the task's items (the TASK, or the AWARD: the outbox of the
   * notices), as DynamoDB Streams delivers it to the task stream function.
   */
  async function taskInserted(url: string, sk = "TASK"): Promise<DynamoDBStreamEvent> {
    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `TASK#${url}` }, SK: { S: sk } },
        ConsistentRead: true,
      }),
    );
    const record = {
      eventID: "1",
      eventName: "INSERT",
      eventSource: "aws:dynamodb",
      awsRegion: "us-east-1",
      dynamodb: {
        Keys: { PK: Item?.PK, SK: Item?.SK },
        NewImage: Item as Record<string, AttributeValue>,
        SequenceNumber: "100",
        StreamViewType: "NEW_AND_OLD_IMAGES",
      },
    } as unknown as DynamoDBRecord;
    return { Records: [record] };
  }

  it("plays the whole story and records one exact outcome", async () => {
    const cheap = await registerAgent("e2e-cheap", ["python"]);
    const pricey = await registerAgent("e2e-pricey", ["python", "sql"]);
    const shy = await registerAgent("e2e-shy", ["python"]);
    const other = await registerAgent("e2e-other", ["rust"]);

    // 1. A labelled issue becomes a task.
    const issue: Payload = githubPayload("issues", "opened");
    issue.issue.number = 4242;
    issue.issue.html_url = "https://github.com/Codertocat/Hello-World/issues/4242";
    issue.issue.labels = ["agentforge", "cap:python", "budget:100"].map((name, id) => ({ id, name }));
    const url: string = issue.issue.html_url;
    await webhook("issues", issue);

    // 2. The task's stream INSERT goes the deployed way: the task stream function puts exactly one
    // `{ task_id }` message on the dispatch queue, and the dispatch worker handles it without a failure
    // (nothing is left on the queue or its DLQ); capable agents get signed bid requests.
    const dispatched = await dispatchFromStream(await taskInserted(url));
    expect(dispatched.batches).toEqual([{ bodies: [{ task_id: url }], response: { batchItemFailures: [] } }]);
    expect(dispatched.polled).toEqual([
      { received: 1, failed: 0 },
      { received: 0, failed: 0 },
    ]);
    expect(await drainQueue(dispatch.client, dispatch.dlqUrl)).toEqual([]);
    const [request] = await inbox(cheap);
    expect(request).toMatchObject({
      type: "BID_REQUEST",
      task_id: url,
      agent_id: cheap.id,
      capabilities: ["python"],
      budget: 100,
      reply_to: bids.queueUrl,
    });
    expect(await inbox(pricey)).toHaveLength(1);
    expect(await inbox(shy)).toHaveLength(1);
    expect(await inbox(other)).toEqual([]);

    // 3. Sealed answers on the bids queue; once everyone answered, the award runs at once. A captured
    // bid re-sent as is (REPLAY) and a bid sealed 10 minutes before the queue accepted it (STALE) are
    // refused without a trace: otherwise shy's stale bid of 1 would win.
    const replyTo = String(request?.reply_to);
    const cheapBid = await reply(cheap, replyTo, {
      type: "BID",
      task_id: url,
      agent_id: cheap.id,
      bid_amount: 40,
      estimated_completion_sec: 7200,
    });
    await resend(replyTo, cheapBid);
    await reply(
      shy,
      replyTo,
      { type: "BID", task_id: url, agent_id: shy.id, bid_amount: 1, estimated_completion_sec: 60 },
      { now: new Date(Date.now() - 10 * MINUTE_MS) },
    );
    await reply(pricey, replyTo, {
      type: "BID",
      task_id: url,
      agent_id: pricey.id,
      bid_amount: 90,
      estimated_completion_sec: 3600,
    });
    await reply(shy, replyTo, { type: "DECLINE", task_id: url, agent_id: shy.id });
    await runBidWorker();
    // The award item on the stream is the notices' outbox: task stream → dispatch → delivery.
    const notified = await dispatchFromStream(await taskInserted(url, "AWARD"));
    expect(notified.batches).toEqual([
      { bodies: [{ task_id: url, kind: "notify" }], response: { batchItemFailures: [] } },
    ]);
    expect(await drainQueue(delivery.client, delivery.dlqUrl)).toEqual([]);

    expect(await inbox(cheap)).toMatchObject([
      { type: "AWARD", task_id: url, agent_id: cheap.id, bid_amount: 40 },
    ]);
    expect(await inbox(pricey)).toMatchObject([{ type: "REJECTION", task_id: url, agent_id: pricey.id }]);
    expect(await inbox(shy)).toEqual([]);

    // 4. The winner reports its cost; GitHub reports a merged PR and the closed issue.
    await reply(cheap, replyTo, { type: "COST_REPORT", task_id: url, agent_id: cheap.id, actual_cost: 35.5 });
    await runBidWorker();
    // GitHub's times a little after the award: the ledger entry's completion_time_sec (award → close)
    // must be a valid one (at most ten years), or the outcome is rejected.
    const mergedAt = new Date(Date.now() + 50 * 60_000).toISOString();
    const closedAt = new Date(Date.now() + 60 * 60_000).toISOString();
    const pr = pullRequestMergedPayload(mergedAt);
    pr.pull_request.body = "Fixes #4242";
    await webhook("pull_request", pr);
    const closed: Payload = issuesClosedPayload("completed", closedAt);
    closed.issue.number = 4242;
    closed.issue.html_url = url;
    await webhook("issues", closed);

    // 5. One ledger entry with the award's price and the reported cost; the winner's history moved.
    const { Items: ledger = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :l)",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${url}` }, ":l": { S: "LEDGER#" } },
      }),
    );
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      type: { S: "TASK_LEDGER_ENTRY" },
      winning_agent_id: { S: cheap.id },
      bid_amount: { N: "40" },
      actual_cost: { N: "35.5" },
      status: { S: "SUCCESS" },
    });
    // About an hour from the award to the close.
    const completionSec = Number(ledger[0]?.completion_time_sec?.N);
    expect(completionSec).toBeGreaterThanOrEqual(3500);
    expect(completionSec).toBeLessThanOrEqual(3700);
    const profile = JSON.parse((await api("GET", `/agents/${cheap.id}`)).body ?? "{}");
    expect(profile.performance_history).toMatchObject({
      total_tasks_completed: 1,
      success_rate: 1,
      average_cost_per_task: 35.5,
    });

    const record = JSON.parse((await api("GET", `/tasks/${encodeURIComponent(url)}`)).body ?? "{}");
    expect(record.task).toMatchObject({ status: "AWARDED", latest_outcome_status: "SUCCESS" });
    expect(record.award).toMatchObject({ agent_id: cheap.id, bid_amount: 40, actual_cost: 35.5 });
    expect(
      Object.fromEntries(
        record.bids.map((b: { agent_id: string; status: string; notice?: string }) => [
          b.agent_id,
          [b.status, b.notice ?? null],
        ]),
      ),
    ).toEqual({
      [cheap.id]: ["ACCEPTED", "AWARD"],
      [pricey.id]: ["ACCEPTED", "REJECTION"],
      [shy.id]: ["DECLINED", null],
    });
    expect(record.rejections).toEqual([]);
  });
});
