import type { EmfOutput } from "@aws-lambda-powertools/metrics/types";
import { QueryCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import {
  GetQueueAttributesCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { sign } from "../../examples/agent/src/protocol.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createNonceRepository } from "../../src/adapters/dynamo/nonce.repository.js";
import { type BidService, createBidService } from "../../src/domain/bidding/bid.service.js";
import { SIGNATURE_ATTRIBUTE } from "../../src/domain/bidding/messages.js";
import type { Bid } from "../../src/domain/tasks/task.types.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import { createObservability } from "../../src/observability.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import { createBidBatchHandler } from "../../src/workers/bid-worker.js";
import { sealedAgentMessage, sealedMarketplaceMessage } from "../helpers/agent-messages.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { MAX_RECEIVE_COUNT, type TestQueue, useTestQueue } from "../helpers/sqs.js";

/** Pinned deadlines: every send happens long before FUTURE and long after PAST. */
const FUTURE = "2099-01-01T00:00:00.000Z";
const PAST = "2021-01-01T00:00:00.000Z";

interface TestAgent {
  id: string;
  secret: string;
}

/**
 * The bid worker end to end: agents put signed messages on a real bids queue (SQS emulator, with a
 * DLQ at maxReceiveCount 5), a local event source mapping feeds the worker's batch handler, and the
 * outcome is read back from DynamoDB Local through the task service.
 */
describe("bids queue → bid worker → DynamoDB", () => {
  let table: TestTable;
  let queue: TestQueue;
  let services: ReturnType<typeof servicesFor>;
  let bidding: BiddingRepository;
  let bids: BidService;
  let handle: ReturnType<typeof createBidBatchHandler>;
  /** The seam to the award service: records the early-award requests it gets. */
  const awardCalls: string[] = [];
  const emitted: EmfOutput[] = [];

  beforeAll(async () => {
    table = await useTestTable();
    queue = await useTestQueue("bids");
    services = servicesFor(table);
    bidding = createBiddingRepository({ service: table.service });
    bids = createBidService({
      agents: services.agentRepo,
      bidding,
      nonces: createNonceRepository({ service: table.service }),
      awards: {
        awardIfDue: async (taskId) => {
          awardCalls.push(taskId);
        },
      },
    });
    const { logger, metrics } = createObservability({
      logLevel: "SILENT",
      metricsSink: (emf) => emitted.push(emf),
    });
    handle = createBidBatchHandler({ bids, logger, metrics });
  });

  afterEach(async () => {
    // Every message is settled by the end of each test: acknowledged or, for the poison one, in the DLQ.
    expect(await depth(queue.queueUrl)).toBe(0);
  });

  async function agent(): Promise<TestAgent> {
    const input = agentInput({ capabilities: ["python"] });
    const { secret } = await services.agents.register(input, TEST_OPERATOR);
    if (!secret) throw new Error("registration returned no secret");
    return { id: input.agent_id, secret };
  }

  /** An OPEN task with a budget and a bid deadline, with `invited` agents invited. */
  async function openTask(invited: TestAgent[], options: { budget?: number; deadline?: string } = {}) {
    const url = issueUrl();
    await services.tasks.create({
      task_id: url,
      title: "Make the flaky test deterministic",
      required_capabilities: ["python"],
      budget: options.budget ?? 100,
      bid_deadline: options.deadline ?? FUTURE,
    });
    await bidding.invite(
      url,
      invited.map((a) => a.id),
    );
    return url;
  }

  const bid = (url: string, from: TestAgent, amount = 80, estimate = 3600) => ({
    type: "BID" as const,
    task_id: url,
    agent_id: from.id,
    bid_amount: amount,
    estimated_completion_sec: estimate,
  });

  /**
   * An agent's SendMessage to the bids queue. An object is sealed as the agent kit seals it (protocol
   * v2: `sent_at`, a fresh `nonce`, `sent_at` pinned by `at`) unless `body` gives the exact bytes;
   * `secret` signs the body into the signature attribute (`attribute` overrides its name). Returns
   * the SQS message id.
   */
  async function send(
    message: object | string,
    options: { secret?: string; attribute?: string; at?: Date; nonce?: string } = {},
  ): Promise<string> {
    const body =
      typeof message === "string"
        ? message
        : sealedAgentMessage(message as never, "unused", {
            ...(options.at ? { now: options.at } : {}),
            ...(options.nonce ? { nonce: options.nonce } : {}),
          }).body;
    const attributes: Record<string, MessageAttributeValue> | undefined = options.secret
      ? {
          [options.attribute ?? SIGNATURE_ATTRIBUTE]: {
            DataType: "String",
            StringValue: sign(options.secret, body),
          },
        }
      : undefined;
    const { MessageId } = await queue.client.send(
      new SendMessageCommand({
        QueueUrl: queue.queueUrl,
        MessageBody: body,
        ...(attributes ? { MessageAttributes: attributes } : {}),
      }),
    );
    if (!MessageId) throw new Error("SendMessage returned no MessageId");
    return MessageId;
  }

  /** Runs the worker over everything on the bids queue, as the Lambda event source mapping would. */
  async function work(handler = handle): Promise<number> {
    return createSqsEventSource({ client: queue.client, queueUrl: queue.queueUrl, handler }).drain();
  }

  async function depth(queueUrl: string): Promise<number> {
    const { Attributes } = await queue.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return (
      Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  }

  async function bidOf(url: string, agentId: string): Promise<Bid | undefined> {
    const record = await services.tasks.get(url);
    return record.bids.find((b) => b.agent_id === agentId);
  }

  async function rejectionsOn(url: string) {
    return (await services.tasks.get(url)).rejections;
  }

  it("accepts a valid signed bid onto the agent's bid item and asks for an early award", async () => {
    const a = await agent();
    const url = await openTask([a]);

    const messageId = await send(bid(url, a, 80, 5400), { secret: a.secret });
    await work();

    expect(await bidOf(url, a.id)).toMatchObject({
      status: "ACCEPTED",
      bid_amount: 80,
      estimated_completion_sec: 5400,
      answered_at: expect.any(String),
    });
    expect(await rejectionsOn(url)).toEqual([]);
    expect(awardCalls).toContain(url);
    expect(messageId).toBeTypeOf("string");
  });

  /** Every item under the task's partition and its rejection partition, read without ElectroDB. */
  async function partitionItems(url: string) {
    const items = [];
    for (const pk of [`TASK#${url}`, `REJECTIONS#${url}`]) {
      const { Items = [] } = await table.raw.send(
        new QueryCommand({
          TableName: table.tableName,
          KeyConditionExpression: "PK = :pk",
          ExpressionAttributeValues: { ":pk": { S: pk } },
          ConsistentRead: true,
        }),
      );
      items.push(...Items);
    }
    return items;
  }

  /** Nonce items the agent has claimed, read without ElectroDB. */
  async function noncesOf(agentId: string) {
    const { Items = [] } = await table.raw.send(
      new ScanCommand({
        TableName: table.tableName,
        FilterExpression: "begins_with(PK, :prefix)",
        ExpressionAttributeValues: { ":prefix": { S: `NONCE#${agentId}#` } },
        ConsistentRead: true,
      }),
    );
    return Items;
  }

  it("rotate-secret with previous=revoke: the old secret is BAD_SIGNATURE at once", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const { secret: fresh } = await services.agents.rotateSecret(a.id, TEST_OPERATOR, { previous: "revoke" });
    const receive = (secret: string, id: string) => {
      const sealed = sealedAgentMessage(bid(url, a, 70), secret);
      return bids.receive({
        body: sealed.body,
        signature: sealed.signature,
        messageId: id,
        sentAt: new Date().toISOString(),
      });
    };

    expect(await receive(a.secret, "leaked")).toMatchObject({ status: "rejected", reason: "BAD_SIGNATURE" });
    expect(await receive(fresh, "new")).toMatchObject({ status: "accepted" });
    expect((await services.agentRepo.getVerificationSecrets(a.id))?.previous).toBeUndefined();
  });

  it("forged, unsigned, wrongly named and unknown-agent messages write nothing at all", async () => {
    const a = await agent();
    const other = await agent();
    const url = await openTask([a]);
    const before = await partitionItems(url);
    const stranger: TestAgent = { id: "never-registered", secret: "made-up" };

    await send(bid(url, a), { secret: other.secret });
    await send(bid(url, a));
    // SQS attribute names are case-sensitive: this one is not the signature attribute.
    await send(bid(url, a), { secret: a.secret, attribute: "x-agentforge-signature" });
    await send(bid(url, stranger), { secret: stranger.secret });
    const refusals = emitted.length;
    await work();

    expect(await partitionItems(url)).toEqual(before);
    expect(await noncesOf(a.id)).toEqual([]);
    expect((await bidOf(url, a.id))?.status).toBe("INVITED");
    expect(awardCalls).not.toContain(url);
    const unauthenticated = emitted
      .slice(refusals)
      .filter((emf) =>
        emf._aws.CloudWatchMetrics.some((d) =>
          d.Metrics.some((m) => m.Name === "AgentMessagesUnauthenticated"),
        ),
      );
    expect(unauthenticated).toHaveLength(4);
  });

  it("a flood of 1,000 unsigned messages naming a task adds nothing to its partition", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const before = await partitionItems(url);
    const bodies = Array.from({ length: 1000 }, (_, i) =>
      JSON.stringify({ ...bid(url, a, i % 100), flood: i }),
    );
    for (let i = 0; i < bodies.length; i += 10) {
      await queue.client.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.queueUrl,
          Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: `m${j}`, MessageBody: body })),
        }),
      );
    }

    expect(await work()).toBe(1000);

    expect(await partitionItems(url)).toEqual(before);
    expect(await rejectionsOn(url)).toEqual([]);
    expect(await noncesOf(a.id)).toEqual([]);
  });

  it("a replayed BID is REPLAY, writes nothing, and never replaces the agent's revised bid", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const first = sealedAgentMessage(bid(url, a, 90), a.secret);
    const revised = sealedAgentMessage(bid(url, a, 70), a.secret, { now: new Date(Date.now() + 1000) });
    const put = async (sealed: { body: string; attributes: Record<string, MessageAttributeValue> }) =>
      queue.client.send(
        new SendMessageCommand({
          QueueUrl: queue.queueUrl,
          MessageBody: sealed.body,
          MessageAttributes: sealed.attributes,
        }),
      );

    await put(first);
    await work();
    await put(revised);
    await work();
    const stored = await bidOf(url, a.id);
    const items = await partitionItems(url);
    // Someone who captured the first bid re-sends it, byte for byte, signature and all.
    await put(first);
    const replay = await bids.receive({
      body: first.body,
      signature: first.signature,
      messageId: "captured-copy",
      sentAt: new Date().toISOString(),
    });
    await work();

    expect(replay).toMatchObject({
      status: "rejected",
      reason: "REPLAY",
      authenticated: true,
      recorded: false,
    });
    expect(stored).toMatchObject({ status: "ACCEPTED", bid_amount: 70 });
    expect(await bidOf(url, a.id)).toEqual(stored);
    expect(await partitionItems(url)).toEqual(items);
    expect(await noncesOf(a.id)).toHaveLength(2);
  });

  it("a redelivery of the same SQS message is not a replay: a crash after the nonce claim loses nothing", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const sealed = sealedAgentMessage(bid(url, a, 66), a.secret);
    const input = {
      body: sealed.body,
      signature: sealed.signature,
      messageId: "sqs-1",
      sentAt: new Date().toISOString(),
    };
    // The first delivery claims the nonce and then fails before the bid is stored.
    await createNonceRepository({ service: table.service }).claim({
      agent_id: a.id,
      nonce: JSON.parse(sealed.body).nonce,
      message_id: "sqs-1",
      sent_at: JSON.parse(sealed.body).sent_at,
      expires_at: Math.floor(Date.now() / 1000) + 3600,
    });

    const redelivered = await bids.receive(input);

    expect(redelivered).toMatchObject({ status: "accepted" });
    expect(await bidOf(url, a.id)).toMatchObject({ status: "ACCEPTED", bid_amount: 66 });
  });

  it.each([
    ["10 minutes old", -600_000],
    ["10 minutes in the future", 600_000],
  ])("a message whose sent_at is %s is STALE and writes nothing", async (_label, offsetMs) => {
    const a = await agent();
    const url = await openTask([a]);
    const before = await partitionItems(url);

    await send(bid(url, a), { secret: a.secret, at: new Date(Date.now() + offsetMs) });
    const sealed = sealedAgentMessage(bid(url, a), a.secret, { now: new Date(Date.now() + offsetMs) });
    const receipt = await bids.receive({
      body: sealed.body,
      signature: sealed.signature,
      messageId: `stale-${offsetMs}`,
      sentAt: new Date().toISOString(),
    });
    await work();

    expect(receipt).toMatchObject({ status: "rejected", reason: "STALE", recorded: false });
    expect(receipt.status === "rejected" && receipt.detail).toMatch(
      offsetMs < 0 ? /is 600 s before the queue accepted/ : /is 600 s after the queue accepted/,
    );
    expect(await partitionItems(url)).toEqual(before);
    expect(await noncesOf(a.id)).toEqual([]);
  });

  it("after rotate-secret the previous secret verifies until its overlap ends, and is BAD_SIGNATURE after", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const { secret: fresh } = await services.agents.rotateSecret(a.id, TEST_OPERATOR);
    const secrets = await services.agentRepo.getVerificationSecrets(a.id);
    const end = Date.parse(secrets?.previous?.valid_until ?? "");
    expect(end - Date.now()).toBeGreaterThan(590_000);
    expect(end - Date.now()).toBeLessThanOrEqual(600_000);
    const receiveAt = (at: number, amount: number, secret: string, id: string) => {
      const sealed = sealedAgentMessage(bid(url, a, amount), secret, { now: new Date(at) });
      return bids.receive({
        body: sealed.body,
        signature: sealed.signature,
        messageId: id,
        sentAt: new Date(at).toISOString(),
      });
    };

    const inside = await receiveAt(end - 1000, 81, a.secret, "old-inside");
    const after = await receiveAt(end + 1000, 82, a.secret, "old-after");
    const current = await receiveAt(end + 2000, 83, fresh, "new-after");

    expect(inside).toMatchObject({ status: "accepted" });
    expect(after).toMatchObject({ status: "rejected", reason: "BAD_SIGNATURE", authenticated: false });
    expect(after.status === "rejected" && after.detail).toMatch(/previous secret, whose overlap ended at/);
    expect(current).toMatchObject({ status: "accepted" });
    expect(await bidOf(url, a.id)).toMatchObject({ bid_amount: 83 });
    expect(await rejectionsOn(url)).toEqual([]);
  });

  it("rejects a bid sent after the deadline as LATE, judged by the queue's SentTimestamp", async () => {
    const a = await agent();
    const url = await openTask([a], { deadline: PAST });
    const before = Date.now();

    await send(bid(url, a), { secret: a.secret });
    await work();

    const [rejection] = await rejectionsOn(url);
    expect(rejection?.reason).toMatch(new RegExp(`^LATE: sent at .+, after the bid deadline ${PAST}$`));
    // received_at is when the queue accepted the message, not when the worker ran.
    expect(Date.parse(rejection?.received_at ?? "")).toBeGreaterThanOrEqual(before - 1000);
    expect((await bidOf(url, a.id))?.status).toBe("INVITED");
  });

  it("queue lag never makes a bid late: one sent before the deadline counts even if processed after it", async () => {
    const a = await agent();
    const url = await openTask([a], { deadline: new Date(Date.now() + 1500).toISOString() });

    await send(bid(url, a, 60), { secret: a.secret });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await work();

    expect(await bidOf(url, a.id)).toMatchObject({ status: "ACCEPTED", bid_amount: 60 });
  });

  it("rejects an over-budget bid as OVER_BUDGET", async () => {
    const a = await agent();
    const url = await openTask([a], { budget: 100 });

    await send(bid(url, a, 150), { secret: a.secret });
    await work();

    expect((await rejectionsOn(url)).map((r) => r.reason)).toEqual([
      "OVER_BUDGET: bid 150 is over the budget 100",
    ]);
    expect((await bidOf(url, a.id))?.status).toBe("INVITED");
  });

  it("rejects a redelivered bid as DUPLICATE; the same bid signed later is stored, so its time advances", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const at = Date.now();
    const sealed = sealedAgentMessage(bid(url, a, 80), a.secret, { now: new Date(at) });
    const input = {
      body: sealed.body,
      signature: sealed.signature,
      messageId: "dup-1",
      sentAt: new Date(at).toISOString(),
    };

    expect((await bids.receive(input)).status).toBe("accepted");
    const first = await bidOf(url, a.id);
    expect(await bids.receive(input)).toMatchObject({
      status: "rejected",
      reason: "DUPLICATE",
      recorded: true,
    });
    expect(await bidOf(url, a.id)).toEqual(first);

    const again = sealedAgentMessage(bid(url, a, 80), a.secret, { now: new Date(at + 1000) });
    const resent = await bids.receive({
      body: again.body,
      signature: again.signature,
      messageId: "dup-2",
      sentAt: new Date(at + 1000).toISOString(),
    });

    expect(resent.status).toBe("accepted");
    expect(await bidOf(url, a.id)).toMatchObject({
      bid_amount: 80,
      message_sent_at: new Date(at + 1000).toISOString(),
    });
    expect((await rejectionsOn(url)).map((r) => r.reason)).toEqual([
      "DUPLICATE: the same bid (80, 3600 s) is already stored",
    ]);
  });

  it("a withdrawn bid stays withdrawn: DECLINE, BID, DECLINE delivered as 1, 3, 2 ends DECLINED", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const at = Date.now();
    const decline = { type: "DECLINE" as const, task_id: url, agent_id: a.id };
    const messages = [
      sealedAgentMessage(decline, a.secret, { now: new Date(at) }),
      sealedAgentMessage(bid(url, a, 50), a.secret, { now: new Date(at + 1000) }),
      sealedAgentMessage(decline, a.secret, { now: new Date(at + 2000) }),
    ];
    const receive = (i: number) =>
      bids.receive({
        body: messages[i]?.body ?? "",
        signature: messages[i]?.signature ?? "",
        messageId: `order-${i}`,
        sentAt: new Date(at + 2500).toISOString(),
      });

    const receipts = [await receive(0), await receive(2), await receive(1)];

    expect(receipts.map((r) => (r.status === "rejected" ? r.reason : r.status))).toEqual([
      "declined",
      "declined",
      "SUPERSEDED",
    ]);
    expect(await bidOf(url, a.id)).toMatchObject({ status: "DECLINED" });
  });

  it("orders answers by instant, not by how many fraction digits the agent wrote", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const second = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "");
    const sealedAt = (sentAt: string, amount: number) => {
      const body = JSON.stringify({
        ...bid(url, a, amount),
        sent_at: sentAt,
        nonce: `precision-${amount}-nonce`,
      });
      return { body, signature: sign(a.secret, body) };
    };
    const newer = sealedAt(`${second}.500Z`, 40);
    const older = sealedAt(`${second}Z`, 45);
    const receive = (m: { body: string; signature: string }, id: string) =>
      bids.receive({ ...m, messageId: id, sentAt: `${second}.600Z` });

    expect((await receive(newer, "p-new")).status).toBe("accepted");
    expect(await receive(older, "p-old")).toMatchObject({ reason: "SUPERSEDED" });
    expect(await bidOf(url, a.id)).toMatchObject({ bid_amount: 40, message_sent_at: `${second}.500Z` });
  });

  it("a BID_REQUEST signed for the agent and put on the bids queue is not recorded as the agent's", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const before = await partitionItems(url);
    const reflected = sealedMarketplaceMessage(
      {
        type: "BID_REQUEST",
        task_id: url,
        agent_id: a.id,
        title: "t",
        capabilities: ["python"],
        budget: 100,
        deadline: FUTURE,
        reply_to: queue.queueUrl,
      },
      a.secret,
    );

    const receipt = await bids.receive({
      body: reflected.body,
      signature: reflected.signature,
      messageId: "reflected",
      sentAt: new Date().toISOString(),
    });

    expect(receipt).toMatchObject({ status: "rejected", reason: "MALFORMED", recorded: false });
    expect(await partitionItems(url)).toEqual(before);
  });

  it("records an uninvited agent's bid as NOT_INVITED; an unknown agent's leaves no trace", async () => {
    const invited = await agent();
    const uninvited = await agent();
    const url = await openTask([invited]);
    const stranger: TestAgent = { id: "never-registered", secret: "made-up" };

    await send(bid(url, uninvited), { secret: uninvited.secret });
    await send(bid(url, stranger), { secret: stranger.secret });
    await work();

    // NOT_INVITED is the signed word of a real agent, so it is recorded; an unknown agent's is not.
    const reasons = (await rejectionsOn(url)).map((r) => [r.agent_id, r.reason]);
    expect(reasons).toEqual([
      [uninvited.id, `NOT_INVITED: agent ${uninvited.id} was not invited to bid on this task`],
    ]);
    const record = await services.tasks.get(url);
    expect(record.bids.map((b) => b.agent_id)).toEqual([invited.id]);
  });

  it("records a malformed message that names a task; acknowledges one that names none without a trace", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const missing = issueUrl();

    await send({ ...bid(url, a), bid_amount: "eighty" }, { secret: a.secret });
    // A NUL in the type never reaches the record: a message that is not an agent's is not recorded.
    await send({ ...bid(url, a), type: "\u0000" }, { secret: a.secret });
    // Nor is a signed body without a v2 envelope (a captured v1 message, say).
    await send(JSON.stringify(bid(url, a, 12)), { secret: a.secret });
    await send("{not json", { secret: a.secret });
    await send(bid(missing, a), { secret: a.secret });
    await work();

    const rejections = await rejectionsOn(url);
    expect(rejections).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          agent_id: a.id,
          message_type: "BID",
          reason: "MALFORMED: bid_amount: must be a number",
        }),
      ]),
    );
    expect(rejections).toHaveLength(1);
    // An unknown task gets no partition: nobody can create items under TASK#<any url> by sending junk.
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${missing}` } },
      }),
    );
    expect(Items).toEqual([]);
    expect(await depth(queue.dlqUrl)).toBe(0);
  });

  it("a later, different valid bid replaces the earlier one on the same single bid item", async () => {
    const a = await agent();
    const url = await openTask([a]);

    await send(bid(url, a, 90, 7200), { secret: a.secret });
    await work();
    await send(bid(url, a, 75, 3600), { secret: a.secret });
    await work();

    const record = await services.tasks.get(url);
    expect(record.bids).toEqual([
      expect.objectContaining({
        agent_id: a.id,
        status: "ACCEPTED",
        bid_amount: 75,
        estimated_completion_sec: 3600,
      }),
    ]);
    expect(record.rejections).toEqual([]);
  });

  it("records a DECLINE and asks for an early award", async () => {
    const a = await agent();
    const url = await openTask([a]);

    await send({ type: "DECLINE", task_id: url, agent_id: a.id }, { secret: a.secret });
    await work();

    expect((await bidOf(url, a.id))?.status).toBe("DECLINED");
    expect(awardCalls.filter((id) => id === url)).toHaveLength(1);
  });

  it("asks for an early award once per batch with stored answers for the task, never for rejections alone", async () => {
    const a = await agent();
    const b = await agent();
    const c = await agent();
    const url = await openTask([a, b, c]);
    const other = await openTask([a]);

    // One batch: two stored answers for `url`, two refusals for it, one stored answer for `other`.
    await send(bid(url, a, 70), { secret: a.secret });
    await send(bid(url, b, 500), { secret: b.secret });
    await send({ type: "DECLINE", task_id: url, agent_id: c.id }, { secret: c.secret });
    await send(bid(url, c, 50), { secret: a.secret });
    await send(bid(other, a, 40), { secret: a.secret });
    const source = createSqsEventSource({ client: queue.client, queueUrl: queue.queueUrl, handler: handle });
    expect(await source.pollOnce()).toEqual({ received: 5, failed: 0 });

    expect(awardCalls.filter((id) => id === url)).toHaveLength(1);
    expect(awardCalls.filter((id) => id === other)).toHaveLength(1);
    // The forged one is not recorded at all.
    expect((await rejectionsOn(url)).map((r) => r.reason.split(":")[0]).sort()).toEqual(["OVER_BUDGET"]);

    // A batch of refusals only asks for nothing.
    await send(bid(url, b, 900), { secret: b.secret });
    await work();
    expect(awardCalls.filter((id) => id === url)).toHaveLength(1);
  });

  it("a COST_REPORT from the awardee sets actual_cost; from anyone else it is NOT_AWARDED; bidding is closed", async () => {
    const winner = await agent();
    const loser = await agent();
    const url = await openTask([winner, loser]);
    await send(bid(url, winner, 80), { secret: winner.secret });
    await work();
    await services.award({
      task_id: url,
      agent_id: winner.id,
      bid_amount: 80,
      status: "AWARDED",
    });

    const report = (from: TestAgent, cost: number) => ({
      type: "COST_REPORT",
      task_id: url,
      agent_id: from.id,
      actual_cost: cost,
    });
    await send(report(winner, 72.5), { secret: winner.secret });
    await send(report(loser, 10), { secret: loser.secret });
    await send(bid(url, loser, 60), { secret: loser.secret });
    await work();

    const record = await services.tasks.get(url);
    expect(record.award).toMatchObject({ agent_id: winner.id, status: "AWARDED", actual_cost: 72.5 });
    expect(record.rejections.map((r) => [r.agent_id, r.message_type, r.reason.split(":")[0]])).toEqual(
      expect.arrayContaining([
        [loser.id, "COST_REPORT", "NOT_AWARDED"],
        [loser.id, "BID", "BIDDING_CLOSED"],
      ]),
    );
    expect(record.rejections).toHaveLength(2);
    expect((await bidOf(url, loser.id))?.status).toBe("INVITED");
  });

  it("counts accepted bids and rejections by reason", () => {
    const names = emitted.flatMap((emf) =>
      emf._aws.CloudWatchMetrics.flatMap((d) =>
        d.Metrics.map((m) => `${m.Name}${"reason" in emf ? `/${String(emf.reason)}` : ""}`),
      ),
    );

    expect(new Set(names)).toEqual(
      new Set([
        "BidsAccepted",
        "BidsDeclined",
        "CostReportsRecorded",
        ...[
          "BAD_SIGNATURE",
          "UNSIGNED",
          "LATE",
          "OVER_BUDGET",

          "NOT_INVITED",
          "UNKNOWN_AGENT",
          "MALFORMED",
          "UNKNOWN_TASK",
          "NOT_AWARDED",
          "BIDDING_CLOSED",
          "REPLAY",
          "STALE",
        ].map((reason) => `BidsRejected/${reason}`),
        "AgentMessagesUnauthenticated",
        "AgentMessagesReplayed",
      ]),
    );
  });

  it("a poison message fails only itself: the rest of its batch is processed and it ends in the DLQ", async () => {
    const a = await agent();
    const b = await agent();
    const c = await agent();
    const url = await openTask([a, b, c]);
    const poison = new Set<string>();
    // Fault injection around the real service: one message id always throws, as a transient failure
    // that never clears would.
    const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
    const faulty = createBidBatchHandler({
      bids: {
        receive: (input, options) =>
          poison.has(input.messageId)
            ? Promise.reject(new Error("downstream unavailable"))
            : bids.receive(input, options),
        checkAward: (taskId) => bids.checkAward(taskId),
      },
      logger,
      metrics,
    });
    await queue.client.send(
      new SetQueueAttributesCommand({ QueueUrl: queue.queueUrl, Attributes: { VisibilityTimeout: "1" } }),
    );
    try {
      await send(bid(url, a, 70), { secret: a.secret });
      poison.add(await send(bid(url, b, 65), { secret: b.secret }));
      await send(bid(url, c, 400), { secret: c.secret });

      const source = createSqsEventSource({
        client: queue.client,
        queueUrl: queue.queueUrl,
        handler: faulty,
      });
      const first = await source.pollOnce();
      let receives = 1;
      for (let i = 0; i < 20 && (await depth(queue.dlqUrl)) === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1100));
        receives += (await source.pollOnce()).received;
      }

      expect(first).toEqual({ received: 3, failed: 1 });
      expect(receives).toBe(MAX_RECEIVE_COUNT);
      expect(await bidOf(url, a.id)).toMatchObject({ status: "ACCEPTED", bid_amount: 70 });
      expect((await bidOf(url, b.id))?.status).toBe("INVITED");
      expect((await rejectionsOn(url)).map((r) => [r.agent_id, r.reason.split(":")[0]])).toEqual([
        [c.id, "OVER_BUDGET"],
      ]);
      const { Messages = [] } = await queue.client.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.dlqUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ["All"],
        }),
      );
      expect(Messages.map((m) => JSON.parse(m.Body ?? "{}").agent_id)).toEqual([b.id]);
      expect(Messages[0]?.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue).toMatch(/^sha256=/);
    } finally {
      await queue.client.send(
        new SetQueueAttributesCommand({ QueueUrl: queue.queueUrl, Attributes: { VisibilityTimeout: "30" } }),
      );
    }
  });

  it("an older answer, delivered after a newer one, cannot overwrite it: the signed sent_at orders them", async () => {
    const a = await agent();
    const url = await openTask([a]);
    const at = Date.now();
    const newer = sealedAgentMessage(bid(url, a, 70), a.secret, { now: new Date(at + 2000) });
    const older = sealedAgentMessage(bid(url, a, 90), a.secret, { now: new Date(at + 1000) });

    // A standard queue may hand them over in either order, even with the older accepted later.
    const first = await bids.receive({
      body: newer.body,
      signature: newer.signature,
      messageId: "m-new",
      sentAt: new Date(at + 2000).toISOString(),
    });
    const late = await bids.receive({
      body: older.body,
      signature: older.signature,
      messageId: "m-old",
      sentAt: new Date(at + 3000).toISOString(),
    });

    expect(first.status).toBe("accepted");
    expect(late).toMatchObject({ status: "rejected", reason: "SUPERSEDED" });
    const record = await services.tasks.get(url);
    expect(record.bids).toMatchObject([{ agent_id: a.id, bid_amount: 70 }]);
  });

  it("an older cost report never overwrites a newer one, and a replayed one is REPLAY", async () => {
    const winner = await agent();
    const url = await openTask([winner]);
    await send(bid(url, winner, 80), { secret: winner.secret });
    await work();
    await services.award({ task_id: url, agent_id: winner.id, bid_amount: 80, status: "AWARDED" });
    const at = Date.now();
    const report = (cost: number, offset: number) =>
      sealedAgentMessage(
        { type: "COST_REPORT", task_id: url, agent_id: winner.id, actual_cost: cost },
        winner.secret,
        { now: new Date(at + offset) },
      );
    const newer = report(60, 2000);
    const older = report(75, 1000);
    const receive = (sealed: { body: string; signature: string }, id: string) =>
      bids.receive({
        body: sealed.body,
        signature: sealed.signature,
        messageId: id,
        sentAt: new Date(at + 2500).toISOString(),
      });

    const stored = await receive(newer, "cost-new");
    const superseded = await receive(older, "cost-old");
    const replayed = await receive(newer, "cost-copy");

    expect(stored.status).toBe("cost_recorded");
    expect(superseded).toMatchObject({ status: "rejected", reason: "SUPERSEDED", recorded: true });
    expect(replayed).toMatchObject({ status: "rejected", reason: "REPLAY", recorded: false });
    expect((await services.tasks.get(url)).award).toMatchObject({ actual_cost: 60 });
  });

  it("a task record carries only the newest 100 rejections, so a flood of refused messages cannot grow every read", async () => {
    const url = await openTask([]);
    for (let i = 0; i < 105; i++) {
      await bidding.recordRejection({
        task_id: url,
        received_at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)).toISOString(),
        message_id: `flood-${i}`,
        reason: "UNSIGNED: no signature",
      });
    }

    const record = await services.tasks.get(url);
    const withoutRejections = await services.taskRepo.getTaskRecord(url, { rejections: 0 });

    expect(record.rejections).toHaveLength(100);
    expect(record.rejections[0]?.message_id).toBe("flood-5");
    expect(record.rejections.at(-1)?.message_id).toBe("flood-104");
    expect(withoutRejections?.rejections).toEqual([]);
  });
});
