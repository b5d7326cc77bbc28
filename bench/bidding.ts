/**
 * The bid pipeline's two figures, measured on DynamoDB Local and the in-process SQS emulator:
 *
 * 1. Bids accepted per second through the bid worker (the real bid service, called directly and,
 *    separately, fed from a bids queue through the Lambda batch handler) beside a floor: the same
 *    TransactWriteItems that `acceptBid` sends, issued straight through the DocumentClient. Every path
 *    answers fresh INVITED bid items of its own task, at the same concurrency, and the paths alternate
 *    over several rounds so drift on a noisy machine lands on all of them; ratios are per round.
 * 2. Time from task creation to every capable agent's queue holding its BID_REQUEST, in two phases:
 *    the real dispatch service (invitations, one job per agent on the delivery queue), then the
 *    delivery queue drained through the delivery worker's batch handler (the real delivery service,
 *    endpoint circuit and SQS endpoint sender); DynamoDB and SQS requests per invitation of each.
 */
import { randomUUID } from "node:crypto";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { createBiddingRepository } from "../src/adapters/dynamo/bidding.repository.js";
import { createEndpointCircuitRepository } from "../src/adapters/dynamo/endpoint-circuit.repository.js";
import type { MarketplaceService } from "../src/adapters/dynamo/marketplace-service.js";
import { createNonceRepository } from "../src/adapters/dynamo/nonce.repository.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../src/adapters/endpoints/sqs-endpoint-sender.js";
import { createSqsAwardQueue } from "../src/adapters/sqs/award-queue.js";
import { createSqsClient } from "../src/adapters/sqs/client.js";
import { createSqsDeliveryQueue } from "../src/adapters/sqs/delivery-queue.js";
import type { AgentService } from "../src/domain/agents/agent.service.js";
import { createQueuedAwardTrigger } from "../src/domain/bidding/award-due.js";
import { type BidInput, type BidService, createBidService } from "../src/domain/bidding/bid.service.js";
import { createDeliveryService, type DeliveryOutcome } from "../src/domain/bidding/delivery.service.js";
import { createDispatchService, type DispatchSummary } from "../src/domain/bidding/dispatch.service.js";
import { SIGNATURE_ATTRIBUTE } from "../src/domain/bidding/messages.js";
import { sealMessage, verifyBodySignature } from "../src/domain/bidding/signing.js";
import type { TaskService } from "../src/domain/tasks/task.service.js";
import { forEachConcurrent } from "../src/lib/concurrency.js";
import { createSqsEventSource } from "../src/local/sqs-event-source.js";
import { startSqsLocal } from "../src/local/sqs-local.js";
import { createObservability } from "../src/observability.js";
import type { AgentRepository } from "../src/ports/agent-repository.js";
import type { TaskRepository } from "../src/ports/task-repository.js";
import { createBidBatchHandler } from "../src/workers/bid-worker.js";
import { createDeliveryBatchHandler } from "../src/workers/delivery-worker.js";
import { TEST_OPERATOR } from "../test/helpers/principals.js";
import { type CallRecord, type CallRecorder, reportedUnits, SqsCallRecorder } from "./capture.js";
import { issueUrl } from "./fixtures.js";
import { ms, renderTable } from "./report.js";

/** Requests in flight on every path of figure 1 (DynamoDB Local and Node share 2 cores). */
export const BID_CONCURRENCY = 16;
/** Rounds of figure 1; each runs every path once, in a rotated order. */
export const BID_ROUNDS = 7;
/** Unreported rounds before them, on every bidder. */
export const WARM_UP_ROUNDS = 2;
/** Figure 1: signed bids per path per round (agents registered with a secret). */
export const BIDDERS = 200;
/** Figure 2: agents a task is dispatched to, each on its own queue. */
export const DISPATCH_AGENTS = 100;
/** Figure 2: dispatch runs (a new task each time, the same 100 agents and queues). */
export const DISPATCH_RUNS = 3;
/** A bid message the bid service could not settle (it threw) is handed over again, as SQS would. */
const MAX_REDELIVERIES = 10;
/** Far enough ahead that every message is on time. */
const BID_DEADLINE = "2099-01-01T00:00:00.000Z";

export interface Bidder {
  id: string;
  secret: string;
}

export interface BiddingBenchContext {
  recorder: CallRecorder;
  service: MarketplaceService;
  /** The recorded DocumentClient the repositories use; the floor sends through it too. */
  doc: DynamoDBDocumentClient;
  tableName: string;
  agentRepo: AgentRepository;
  taskRepo: TaskRepository;
  agents: AgentService;
  tasks: TaskService;
  sqs: SQSClient;
  /** Records the SQS requests made through `sqs`, by measurement. */
  sqsCalls: SqsCallRecorder;
  log: (message: string) => void;
}

type BidPath = "worker" | "worker via SQS" | "floor";

export interface BidRun {
  round: number;
  path: BidPath;
  bids: number;
  accepted: number;
  /** Bid messages that threw (worker) or transactions cancelled by a conflict (floor), then retried. */
  retried: number;
  ms: number;
  bidsPerSecond: number;
  dynamoCalls: number;
  callsPerBid: number;
  callsByOperation: Record<string, number>;
  /** Stored ACCEPTED bid items on the round's task afterwards (read back unrecorded). */
  storedAccepted: number;
  reportedWcu: number;
}

export interface BidThroughputResult {
  bidders: number;
  concurrency: number;
  sqsPollers: number;
  sqsBatchSize: number;
  runs: BidRun[];
  /** worker / floor bids per second, per round. */
  ratios: Array<{ round: number; worker: number; sqs: number }>;
  medianRatio: { worker: number; sqs: number };
  /** Whether the floor's request has acceptBid's recorded expressions, names, keys and placeholders. */
  floorMatchesAcceptBid: { identical: boolean; differences: string[] };
  acceptBidRequest: { conditionCheck: string; updateCondition: string };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
};

const byOperation = (calls: CallRecord[]) => {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[call.command] = (counts[call.command] ?? 0) + 1;
  return counts;
};

export const formatOperations = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([op, n]) => `${op} ${n}`)
    .join(", ");

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

interface BidFields {
  bid_amount: number;
  estimated_completion_sec: number;
  sent_at: string;
  /** The message's own signed `sent_at` (protocol v2): it orders the agent's answers. */
  message_sent_at: string;
}

/** The nonce claim a protocol v2 message carries into its answer's transaction. */
interface FloorNonce {
  agent_id: string;
  nonce: string;
  message_id: string;
  sent_at: string;
  expires_at: number;
}

/**
 * The TransactWriteItems `acceptBid` sends for a first answer, written out by hand: an Update of the
 * TASK item that adds one to `answered_count` on condition that the task is OPEN, the send time not
 * past `bid_deadline` and the bid within `budget`; an Update of the BID item that ElectroDB's `patch`
 * guards with attribute_exists on both keys, plus the repository's condition that the item is still
 * INVITED and its bid request was not counted unreachable (`counted_unreachable` absent: a failed
 * delivery already counted the invitation, so a late first answer takes another form); the ConditionCheck that the agent is active and not kill-switched; and the Put of the
 * message's nonce. The expression strings are ElectroDB's, verbatim. Checked against a recorded
 * request.
 */
function floorRequest(
  table: string,
  taskId: string,
  agentId: string,
  bid: BidFields,
  at: string,
  nonce: FloorNonce,
): TransactWriteCommandInput & Record<string, unknown> {
  return {
    TransactItems: [
      {
        Update: {
          UpdateExpression:
            "SET #task_id = :task_id_u0, #__edb_e__ = :__edb_e___u0, #__edb_v__ = :__edb_v___u0 ADD #answered_count :answered_count_u0",
          ExpressionAttributeNames: {
            "#PK": "PK",
            "#SK": "SK",
            "#status": "status",
            "#bid_deadline": "bid_deadline",
            "#budget": "budget",
            "#answered_count": "answered_count",
            "#task_id": "task_id",
            "#__edb_e__": "__edb_e__",
            "#__edb_v__": "__edb_v__",
          },
          ExpressionAttributeValues: {
            ":status0": "OPEN",
            ":bid_deadline0": bid.sent_at,
            ":budget0": bid.bid_amount,
            ":answered_count_u0": 1,
            ":task_id_u0": taskId,
            ":__edb_e___u0": "task",
            ":__edb_v___u0": "1",
          },
          TableName: table,
          Key: { PK: `TASK#${taskId}`, SK: "TASK" },
          ConditionExpression:
            "attribute_exists(#PK) AND attribute_exists(#SK) AND #status = :status0 AND (attribute_not_exists(#bid_deadline) OR #bid_deadline >= :bid_deadline0) AND (attribute_not_exists(#budget) OR #budget >= :budget0)",
        },
      },
      {
        Update: {
          UpdateExpression:
            "SET #status = :status_u0, #bid_amount = :bid_amount_u0, #estimated_completion_sec = :estimated_completion_sec_u0, #sent_at = :sent_at_u0, #message_sent_at = :message_sent_at_u0, #answered_at = :answered_at_u0, #updated_at = :updated_at_u0, #task_id = :task_id_u0, #agent_id = :agent_id_u0, #__edb_e__ = :__edb_e___u0, #__edb_v__ = :__edb_v___u0",
          ExpressionAttributeNames: {
            "#PK": "PK",
            "#SK": "SK",
            "#sent_at": "sent_at",
            "#message_sent_at": "message_sent_at",
            "#status": "status",
            "#bid_amount": "bid_amount",
            "#estimated_completion_sec": "estimated_completion_sec",
            "#answered_at": "answered_at",
            "#updated_at": "updated_at",
            "#task_id": "task_id",
            "#agent_id": "agent_id",
            "#counted_unreachable": "counted_unreachable",
            "#__edb_e__": "__edb_e__",
            "#__edb_v__": "__edb_v__",
          },
          ExpressionAttributeValues: {
            ":status0": "INVITED",
            ":status_u0": "ACCEPTED",
            ":sent_at_u0": bid.sent_at,
            ":message_sent_at_u0": bid.message_sent_at,
            ":bid_amount_u0": bid.bid_amount,
            ":estimated_completion_sec_u0": bid.estimated_completion_sec,
            ":answered_at_u0": at,
            ":updated_at_u0": at,
            ":task_id_u0": taskId,
            ":agent_id_u0": agentId,
            ":__edb_e___u0": "bid",
            ":__edb_v___u0": "1",
          },
          TableName: table,
          Key: { PK: `TASK#${taskId}`, SK: `BID#${agentId}` },
          ConditionExpression:
            "attribute_exists(#PK) AND attribute_exists(#SK) AND #status = :status0 AND attribute_not_exists(#counted_unreachable)",
        },
      },
      {
        ConditionCheck: {
          Key: { PK: `AGENT#${agentId}`, SK: "PROFILE" },
          TableName: table,
          ConditionExpression: "#status = :status0 AND #kill_switch_active = :kill_switch_active0",
          ExpressionAttributeNames: { "#status": "status", "#kill_switch_active": "kill_switch_active" },
          ExpressionAttributeValues: { ":status0": "active", ":kill_switch_active0": false },
        },
      },
      {
        Put: {
          Item: {
            type: "MESSAGE_NONCE",
            ...nonce,
            PK: `NONCE#${nonce.agent_id}#${nonce.nonce}`,
            SK: "NONCE",
            __edb_e__: "message_nonce",
            __edb_v__: "1",
          },
          TableName: table,
          ConditionExpression: "(attribute_not_exists(#message_id) OR #message_id = :message_id0)",
          ExpressionAttributeNames: { "#message_id": "message_id" },
          ExpressionAttributeValues: { ":message_id0": nonce.message_id },
        },
      },
    ],
  };
}

/** An update expression with the clauses of each action (SET, REMOVE, ...) in sorted order. */
function canonicalUpdate(expression: string): string {
  return expression
    .trim()
    .split(/\s+(?=(?:SET|REMOVE|ADD|DELETE)\s)/)
    .map((part) => {
      const [verb = "", ...rest] = part.split(" ");
      return `${verb} ${rest.join(" ").split(/,\s*/).sort().join(", ")}`;
    })
    .sort()
    .join(" ");
}

/**
 * Differences between two TransactWriteItems requests in everything but the values of time
 * placeholders (`*_at*`), which differ by construction, and the order of SET clauses: action kinds
 * and order, tables, keys, expressions, attribute names, placeholder names and all other values.
 */
function requestDifferences(recorded: Record<string, unknown>, floor: Record<string, unknown>): string[] {
  const normalise = (request: Record<string, unknown>) =>
    ((request.TransactItems as Array<Record<string, Record<string, unknown>>> | undefined) ?? []).map(
      (action) =>
        Object.fromEntries(
          Object.entries(action).map(([kind, body]) => {
            const values = (body.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
            const sortedValues = Object.fromEntries(
              Object.keys(values)
                .sort()
                .map((k) => [k, /_at/.test(k) ? "<time>" : values[k]]),
            );
            const names = (body.ExpressionAttributeNames ?? {}) as Record<string, unknown>;
            const sortedNames = Object.fromEntries(
              Object.keys(names)
                .sort()
                .map((k) => [k, names[k]]),
            );
            const rest = Object.fromEntries(
              Object.keys(body)
                .filter((k) => k !== "ExpressionAttributeValues" && k !== "ExpressionAttributeNames")
                .sort()
                .map((k) => [k, k === "UpdateExpression" ? canonicalUpdate(String(body[k])) : body[k]]),
            );
            return [
              kind,
              { ...rest, ExpressionAttributeNames: sortedNames, ExpressionAttributeValues: sortedValues },
            ];
          }),
        ),
    );
  const a = normalise(recorded);
  const b = normalise(floor);
  const differences: string[] = [];
  if (a.length !== b.length) differences.push(`${a.length} actions recorded, ${b.length} in the floor`);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = JSON.stringify(a[i]);
    const y = JSON.stringify(b[i]);
    if (x !== y) differences.push(`action ${i}: recorded ${x} / floor ${y}`);
  }
  return differences;
}

function isConflict(error: unknown): boolean {
  const e = error as { name?: string; CancellationReasons?: Array<{ Code?: string }> };
  return (
    e.name === "TransactionConflictException" ||
    (e.name === "TransactionCanceledException" &&
      (e.CancellationReasons ?? []).some((r) => r.Code === "TransactionConflict"))
  );
}

/** Figure 1: the bid worker's throughput beside the floor of its own conditional writes. */
export async function measureBidThroughput(
  ctx: BiddingBenchContext,
  bidders: Bidder[],
  firstIssue: number,
): Promise<BidThroughputResult> {
  const { recorder, service, doc, tableName, agentRepo, taskRepo, tasks, sqs, log } = ctx;
  const bidding = createBiddingRepository({ service });
  const bidService = createBidService({
    agents: agentRepo,
    bidding,
    nonces: createNonceRepository({ service }),
    // The early award's O(1) check as the award service makes it (one consistent GetItem of the
    // task, its counters), without the award itself: every round's task stays OPEN.
    awards: {
      awardIfDue: async (taskId) => {
        await bidding.getBiddingState(taskId);
      },
    },
  });
  let issue = firstIssue;

  /** A fresh OPEN task (with bid window) with every bidder of `group` invited: fresh INVITED bid items. */
  const freshTask = async (title: string, group: Bidder[]) => {
    const ids = group.map((b) => b.id);
    const taskId = issueUrl(issue++);
    await tasks.create({
      task_id: taskId,
      title,
      required_capabilities: ["python"],
      budget: 100,
      bid_deadline: BID_DEADLINE,
    });
    const invited = await bidding.invite(taskId, ids);
    if (invited.length !== ids.length) throw new Error(`invited ${invited.length} of ${ids.length}`);
    return taskId;
  };
  const bidFor = (i: number) => ({ bid_amount: 10 + (i % 50), estimated_completion_sec: 3600 + i });
  const messagesFor = (taskId: string, group: Bidder[]) =>
    group.map((b, i) => {
      // Protocol v2, sealed as an agent would: a fresh sent_at and nonce in the signed body.
      return sealMessage({ type: "BID", task_id: taskId, agent_id: b.id, ...bidFor(i) }, b.secret);
    });
  const storedAccepted = async (taskId: string) => {
    const record = await taskRepo.getTaskRecord(taskId, { consistent: true });
    return record?.bids.filter((b) => b.status === "ACCEPTED").length ?? 0;
  };

  // The bids queue for the SQS path. The visibility timeout outlasts any batch here: a shorter one
  // lets the emulator hand out a message again while its batch is still being processed.
  const { QueueUrl: bidsQueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: "agentforge-bench-bids", Attributes: { VisibilityTimeout: "30" } }),
  );
  if (!bidsQueueUrl) throw new Error("the SQS emulator returned no queue URL");
  const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
  const SQS_BATCH = 10;
  /** Message ids the worker settled (a receipt, not a throw), so a redelivered copy counts once. */
  const sqsSettled = new Set<string>();
  let sqsAccepted = 0;
  let sqsThrown = 0;
  const countingService: BidService = {
    checkAward: (taskId) => bidService.checkAward(taskId),
    async receive(input, options) {
      try {
        const receipt = await bidService.receive(input, options);
        sqsSettled.add(input.messageId);
        if (receipt.status === "accepted") sqsAccepted += 1;
        return receipt;
      } catch (error) {
        sqsThrown += 1;
        throw error;
      }
    },
  };
  const source = createSqsEventSource({
    client: sqs,
    queueUrl: bidsQueueUrl,
    handler: createBidBatchHandler({ bids: countingService, logger, metrics }),
    batchSize: SQS_BATCH,
  });
  await source.pollOnce(); // resolves the queue ARN once, outside any measurement

  let recordedAcceptBid: Record<string, unknown> | undefined;
  let recordedFor: { taskId: string; agentId: string; bid: BidFields; nonce: FloorNonce } | undefined;

  const runWorker = async (round: number, group: Bidder[]): Promise<BidRun> => {
    const taskId = await freshTask(`Bid throughput, worker, round ${round}`, group);
    const sentAt = new Date().toISOString();
    const inputs: BidInput[] = messagesFor(taskId, group).map((m) => ({
      ...m,
      messageId: randomUUID(),
      sentAt,
    }));
    let accepted = 0;
    let retried = 0;
    const m = await recorder.measure(() =>
      forEachConcurrent(inputs, BID_CONCURRENCY, async (input) => {
        for (let attempt = 0; ; attempt++) {
          try {
            const receipt = await bidService.receive(input);
            if (receipt.status === "accepted") accepted += 1;
            return;
          } catch (error) {
            if (attempt >= MAX_REDELIVERIES) throw error;
            retried += 1;
          }
        }
      }),
    );
    if (!recordedAcceptBid && round > 0) {
      const tx = m.calls.find((c) => c.command === "TransactWriteItems" && c.ok);
      if (tx) {
        recordedAcceptBid = tx.input;
        const actions = tx.input.TransactItems as Array<{
          Update?: { Key?: { SK?: string } };
          Put?: { Item?: FloorNonce };
        }>;
        const agentId = actions[1]?.Update?.Key?.SK?.replace(/^BID#/, "") ?? "";
        const i = group.findIndex((b) => b.id === agentId);
        const signedAt = (JSON.parse(inputs[i]?.body ?? "{}") as { sent_at?: string }).sent_at ?? "";
        const item = actions.at(-1)?.Put?.Item;
        const nonce: FloorNonce = {
          agent_id: item?.agent_id ?? "",
          nonce: item?.nonce ?? "",
          message_id: item?.message_id ?? "",
          sent_at: item?.sent_at ?? "",
          expires_at: item?.expires_at ?? 0,
        };
        recordedFor = {
          taskId,
          agentId,
          bid: { ...bidFor(i), sent_at: sentAt, message_sent_at: signedAt },
          nonce,
        };
      }
    }
    return summarise(round, "worker", inputs.length, accepted, retried, m, await storedAccepted(taskId));
  };

  const runSqs = async (round: number, group: Bidder[]): Promise<BidRun> => {
    const taskId = await freshTask(`Bid throughput, SQS worker, round ${round}`, group);
    const messages = messagesFor(taskId, group);
    for (let i = 0; i < messages.length; i += 10) {
      const { Failed = [] } = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: bidsQueueUrl,
          Entries: messages.slice(i, i + 10).map((m, j) => ({
            Id: String(j),
            MessageBody: m.body,
            MessageAttributes: { [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: m.signature } },
          })),
        }),
      );
      if (Failed.length > 0) throw new Error(`SendMessageBatch: ${Failed.length} entries failed`);
    }
    sqsSettled.clear();
    sqsAccepted = 0;
    sqsThrown = 0;
    const giveUp = performance.now() + 60_000;
    const m = await recorder.measure(() =>
      Promise.all(
        Array.from({ length: BID_CONCURRENCY }, async () => {
          while (sqsSettled.size < messages.length) {
            if (performance.now() > giveUp) throw new Error("the bids queue did not drain within 60 s");
            const { received } = await source.pollOnce();
            if (received === 0) await sleep(5);
          }
        }),
      ),
    );
    return summarise(
      round,
      "worker via SQS",
      messages.length,
      sqsAccepted,
      sqsThrown,
      m,
      await storedAccepted(taskId),
    );
  };

  const runFloor = async (round: number, group: Bidder[]): Promise<BidRun> => {
    const taskId = await freshTask(`Bid throughput, floor, round ${round}`, group);
    const sentAt = new Date().toISOString();
    let accepted = 0;
    let retried = 0;
    const m = await recorder.measure(() =>
      forEachConcurrent(group, BID_CONCURRENCY, async (b, i) => {
        for (let attempt = 0; ; attempt++) {
          try {
            const at = new Date().toISOString();
            const nonce: FloorNonce = {
              agent_id: b.id,
              nonce: randomUUID(),
              message_id: randomUUID(),
              sent_at: sentAt,
              expires_at: Math.ceil(Date.now() / 1000) + 3900,
            };
            await doc.send(
              new TransactWriteCommand(
                floorRequest(
                  tableName,
                  taskId,
                  b.id,
                  { ...bidFor(i), sent_at: sentAt, message_sent_at: sentAt },
                  at,
                  nonce,
                ),
              ),
            );
            accepted += 1;
            return;
          } catch (error) {
            if (attempt >= MAX_REDELIVERIES || !isConflict(error)) throw error;
            retried += 1;
          }
        }
      }),
    );
    return summarise(round, "floor", group.length, accepted, retried, m, await storedAccepted(taskId));
  };

  const summarise = (
    round: number,
    path: BidPath,
    bids: number,
    accepted: number,
    retried: number,
    m: { calls: CallRecord[]; ms: number },
    stored: number,
  ): BidRun => {
    if (stored !== bids)
      throw new Error(`${path}, round ${round}: ${stored} of ${bids} bids stored ACCEPTED`);
    const reported = reportedUnits(m.calls);
    return {
      round,
      path,
      bids,
      accepted,
      retried,
      ms: m.ms,
      bidsPerSecond: accepted / (m.ms / 1000),
      dynamoCalls: m.calls.length,
      callsPerBid: m.calls.length / bids,
      callsByOperation: byOperation(m.calls),
      storedAccepted: stored,
      reportedWcu: Object.values(reported).reduce((sum, u) => sum + u.wcu, 0),
    };
  };

  type Path = (round: number, group: Bidder[]) => Promise<BidRun>;
  const order: Path[] = [runWorker, runSqs, runFloor];
  // Unreported round-0 runs warm every path up (JIT, connections, Local's caches) on every bidder:
  // with a quarter of them, the first reported rounds still ran 20-30 % slower than the last ones.
  for (let warm = 0; warm < WARM_UP_ROUNDS; warm++) for (const path of order) await path(0, bidders);
  const runs: BidRun[] = [];
  for (let round = 1; round <= BID_ROUNDS; round++) {
    for (let k = 0; k < order.length; k++) {
      const run = await (order[(round - 1 + k) % order.length] as Path)(round, bidders);
      log(`  round ${round}, ${run.path}: ${run.accepted} bids in ${ms(run.ms)}`);
      runs.push(run);
    }
  }

  const ratios = Array.from({ length: BID_ROUNDS }, (_, i) => {
    const rate = (path: BidPath) =>
      runs.find((r) => r.round === i + 1 && r.path === path)?.bidsPerSecond ?? 0;
    return {
      round: i + 1,
      worker: rate("worker") / rate("floor"),
      sqs: rate("worker via SQS") / rate("floor"),
    };
  });

  if (!recordedAcceptBid || !recordedFor) throw new Error("no committed acceptBid transaction was recorded");
  const { taskId, agentId, bid, nonce } = recordedFor;
  const differences = requestDifferences(
    recordedAcceptBid,
    floorRequest(tableName, taskId, agentId, bid, new Date().toISOString(), nonce),
  );
  const actions = recordedAcceptBid.TransactItems as Array<Record<string, { ConditionExpression?: string }>>;
  return {
    bidders: bidders.length,
    concurrency: BID_CONCURRENCY,
    sqsPollers: BID_CONCURRENCY,
    sqsBatchSize: SQS_BATCH,
    runs,
    ratios,
    medianRatio: { worker: median(ratios.map((r) => r.worker)), sqs: median(ratios.map((r) => r.sqs)) },
    floorMatchesAcceptBid: { identical: differences.length === 0, differences },
    acceptBidRequest: {
      conditionCheck: actions[0]?.Update?.ConditionExpression ?? "?",
      updateCondition: actions[1]?.Update?.ConditionExpression ?? "?",
    },
  };
}

/** SQS operations by name, e.g. `{ SendMessageBatch: 10 }`. */
const sqsByOperation = (calls: readonly string[]) => {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[call] = (counts[call] ?? 0) + 1;
  return counts;
};

/** What one phase of a dispatch run cost: wall time, and the requests it sent to each service. */
export interface DispatchPhase {
  ms: number;
  dynamoCalls: Record<string, number>;
  sqsCalls: Record<string, number>;
  /** Requests per invitation (÷ the agents invited). */
  dynamoCallsPerInvitation: number;
  sqsCallsPerInvitation: number;
}

export interface DispatchRun {
  run: number;
  agents: number;
  /** Delivery jobs dispatch() put on the delivery queue. */
  enqueued: number;
  /** Delivery outcomes of this run's jobs, as the delivery worker returned them. */
  delivered: number;
  failed: number;
  createMs: number;
  createCalls: Record<string, number>;
  /** dispatch(): the task read, candidate queries, profile reads, invitations and SendMessageBatch. */
  dispatch: DispatchPhase;
  /** The delivery queue drained through the delivery worker's batch handler: sign, send, record. */
  delivery: DispatchPhase;
  /** dispatch + delivery. */
  total: DispatchPhase;
  /** From just before `tasks.create` to the newest BID_REQUEST's SentTimestamp (1 ms resolution). */
  lastEnqueuedMs: number;
  /** From just before `tasks.create` until polling had found every BID_REQUEST. */
  allConfirmedMs: number;
}

export interface DispatchResult {
  agents: number;
  capability: string;
  /** Event source pollers draining the delivery queue at once, each a batch handler invocation. */
  deliveryPollers: number;
  deliveryBatchSize: number;
  registrationMs: number;
  runs: DispatchRun[];
  median: {
    dispatchMs: number;
    deliveryMs: number;
    lastEnqueuedMs: number;
    allConfirmedMs: number;
  };
}

/** Pollers on the delivery queue: Lambda's SQS event source starts with five concurrent batches. */
export const DELIVERY_POLLERS = 5;
/** Records per delivery batch, as the delivery worker's trigger (src/topology.ts). */
export const DELIVERY_BATCH = 10;

/**
 * Figure 2: registers `agents` agents sharing one capability, each with its own queue on the SQS
 * emulator as bidding endpoint, then per run creates a task requiring that capability (t0), runs the
 * dispatch service (invitations, one job per agent on the delivery queue) and then drains the
 * delivery queue through the delivery worker's batch handler (the real delivery service, endpoint
 * circuit and SQS endpoint sender), with {@link DELIVERY_POLLERS} event source pollers. The clock
 * stops when ReceiveMessage has found every agent's BID_REQUEST (checked for type, task and the
 * agent's signature). Messages are deleted after the clock stops.
 */
export async function measureDispatch(
  ctx: BiddingBenchContext,
  agentCount: number,
  firstIssue: number,
): Promise<DispatchResult> {
  const { recorder, sqsCalls, service, agentRepo, taskRepo, agents, tasks, sqs, log } = ctx;
  const capability = "bench-dispatch";
  const queues = await Promise.all(
    Array.from({ length: agentCount }, async (_, i) => {
      const { QueueUrl } = await sqs.send(
        new CreateQueueCommand({ QueueName: `agentforge-bench-agent-${String(i).padStart(3, "0")}` }),
      );
      if (!QueueUrl) throw new Error("the SQS emulator returned no queue URL");
      return QueueUrl;
    }),
  );
  const registered = await recorder.measure(async () => {
    const secrets: string[] = [];
    await forEachConcurrent(queues, BID_CONCURRENCY, async (queueUrl, i) => {
      const { secret } = await agents.register(
        {
          agent_id: `bench-dispatch-${String(i).padStart(3, "0")}`,
          capabilities: [capability],
          cost_model: "green",
          bidding_endpoint: queueUrl,
        },
        TEST_OPERATOR,
      );
      if (!secret) throw new Error(`agent ${i} was already registered`);
      secrets[i] = secret;
    });
    return secrets;
  });
  const secrets = registered.result;
  log(`  ${agentCount} SQS agents registered in ${ms(registered.ms)}`);

  const queueUrl = async (name: string, attributes: Record<string, string> = {}) => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!QueueUrl) throw new Error("the SQS emulator returned no queue URL");
    return QueueUrl;
  };
  const bidsQueueUrl = await queueUrl("agentforge-bench-dispatch-bids");
  // As in figure 1, the visibility timeout outlasts any batch, so no job is handed out twice.
  const deliveryQueueUrl = await queueUrl("agentforge-bench-delivery", { VisibilityTimeout: "30" });
  const awardQueueUrl = await queueUrl("agentforge-bench-award.fifo", { FifoQueue: "true" });

  const bidding = createBiddingRepository({ service });
  const dispatcher = createDispatchService({
    agents: agentRepo,
    bidding,
    tasks: taskRepo,
    deliveries: createSqsDeliveryQueue({ client: sqs, queueUrl: deliveryQueueUrl }),
    bidsQueueUrl,
  });
  // The delivery worker as its container builds it (functions/bidding/delivery-worker.container.ts):
  // the endpoint sender routing by kind, the circuit on the table, the queued award trigger.
  const deliveryService = createDeliveryService({
    agents: agentRepo,
    bidding,
    sender: createEndpointSender({
      sqs: createSqsEndpointSender({ client: sqs }),
      https: createHttpsEndpointSender({ allowLoopback: true }),
    }),
    circuit: createEndpointCircuitRepository({ service }),
    awards: createQueuedAwardTrigger({
      bidding,
      queue: createSqsAwardQueue({ client: sqs, queueUrl: awardQueueUrl }),
    }),
  });
  const outcomes: DeliveryOutcome[] = [];
  const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
  const source = createSqsEventSource({
    client: sqs,
    queueUrl: deliveryQueueUrl,
    handler: createDeliveryBatchHandler({
      deliveries: {
        deliver: async (job) => {
          const outcome = await deliveryService.deliver(job);
          outcomes.push(outcome);
          return outcome;
        },
      },
      logger,
      metrics,
    }),
    batchSize: DELIVERY_BATCH,
  });
  await source.pollOnce(); // resolves the queue ARN once, outside any measurement (the queue is empty)

  /** Runs the event source's pollers until `expected` jobs have an outcome; returns those outcomes. */
  const deliverAll = async (expected: number): Promise<DeliveryOutcome[]> => {
    const start = outcomes.length;
    const giveUp = performance.now() + 60_000;
    await Promise.all(
      Array.from({ length: DELIVERY_POLLERS }, async () => {
        while (outcomes.length - start < expected) {
          if (performance.now() > giveUp) throw new Error("the delivery queue did not drain within 60 s");
          const { received } = await source.pollOnce();
          if (received === 0) await sleep(5);
        }
      }),
    );
    return outcomes.slice(start);
  };

  /** `fn`'s wall time and the DynamoDB and SQS requests it made. */
  const measurePhase = async <T>(fn: () => Promise<T>): Promise<{ result: T; phase: DispatchPhase }> => {
    const dynamo = await recorder.measure(() => sqsCalls.measure(fn));
    const sqsMade = dynamo.result.calls;
    return {
      result: dynamo.result.result,
      phase: {
        ms: dynamo.ms,
        dynamoCalls: byOperation(dynamo.calls),
        sqsCalls: sqsByOperation(sqsMade),
        dynamoCallsPerInvitation: dynamo.calls.length / agentCount,
        sqsCallsPerInvitation: sqsMade.length / agentCount,
      },
    };
  };
  const sumCounts = (a: Record<string, number>, b: Record<string, number>) => {
    const sum = { ...a };
    for (const [op, n] of Object.entries(b)) sum[op] = (sum[op] ?? 0) + n;
    return sum;
  };
  const addPhases = (a: DispatchPhase, b: DispatchPhase): DispatchPhase => ({
    ms: a.ms + b.ms,
    dynamoCalls: sumCounts(a.dynamoCalls, b.dynamoCalls),
    sqsCalls: sumCounts(a.sqsCalls, b.sqsCalls),
    dynamoCallsPerInvitation: a.dynamoCallsPerInvitation + b.dynamoCallsPerInvitation,
    sqsCallsPerInvitation: a.sqsCallsPerInvitation + b.sqsCallsPerInvitation,
  });

  /** Receives each queue's message until all are found; returns the messages by queue index. */
  const confirm = async (taskId: string): Promise<Message[]> => {
    const found: Array<Message | undefined> = new Array(agentCount).fill(undefined);
    const giveUp = performance.now() + 30_000;
    while (found.some((m) => m === undefined)) {
      if (performance.now() > giveUp) throw new Error("not every agent queue got its BID_REQUEST in 30 s");
      const missing = found.flatMap((m, i) => (m === undefined ? [i] : []));
      await forEachConcurrent(missing, BID_CONCURRENCY, async (i) => {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queues[i],
            MaxNumberOfMessages: 1,
            WaitTimeSeconds: 0,
            MessageAttributeNames: ["All"],
            AttributeNames: ["All"],
          }),
        );
        const [message] = Messages;
        if (!message) return;
        const body = JSON.parse(message.Body ?? "{}") as { type?: string; task_id?: string };
        const signature = message.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue;
        if (body.type !== "BID_REQUEST" || body.task_id !== taskId) {
          throw new Error(`queue ${i}: unexpected message ${message.Body}`);
        }
        if (!verifyBodySignature(secrets[i] ?? "", message.Body ?? "", signature)) {
          throw new Error(`queue ${i}: BID_REQUEST not signed with the agent's secret`);
        }
        found[i] = message;
      });
    }
    return found as Message[];
  };

  const runs: DispatchRun[] = [];
  for (let run = 1; run <= DISPATCH_RUNS; run++) {
    const taskId = issueUrl(firstIssue + run - 1);
    const wallT0 = Date.now();
    const t0 = performance.now();
    const created = await recorder.measure(() =>
      tasks.create({
        task_id: taskId,
        title: `Dispatch to ${agentCount} agents, run ${run}`,
        required_capabilities: [capability],
        bid_deadline: BID_DEADLINE,
      }),
    );
    const dispatched = await measurePhase(() => dispatcher.dispatch(taskId));
    const summary: DispatchSummary = dispatched.result;
    if (summary.invited !== agentCount || summary.enqueued !== agentCount) {
      throw new Error(`dispatch enqueued ${summary.enqueued} of ${agentCount}: ${JSON.stringify(summary)}`);
    }
    const delivered = await measurePhase(() => deliverAll(summary.enqueued));
    const messages = await confirm(taskId);
    const allConfirmedMs = performance.now() - t0;
    const lastSent = Math.max(...messages.map((m) => Number(m.Attributes?.SentTimestamp ?? Number.NaN)));
    await Promise.all(
      messages.map((m, i) =>
        sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queues[i],
            Entries: [{ Id: "0", ReceiptHandle: m.ReceiptHandle }],
          }),
        ),
      ),
    );
    const results = delivered.result;
    const ok = results.filter(
      (o) => o.kind === "BID_REQUEST" && o.task_id === taskId && o.status === "DELIVERED",
    );
    if (ok.length !== agentCount) {
      const failures = results.filter((o) => o.status !== "DELIVERED").slice(0, 3);
      throw new Error(`delivered ${ok.length} of ${agentCount}: ${JSON.stringify(failures)}`);
    }
    runs.push({
      run,
      agents: summary.invited,
      enqueued: summary.enqueued,
      delivered: ok.length,
      failed: results.length - ok.length,
      createMs: created.ms,
      createCalls: byOperation(created.calls),
      dispatch: dispatched.phase,
      delivery: delivered.phase,
      total: addPhases(dispatched.phase, delivered.phase),
      lastEnqueuedMs: lastSent - wallT0,
      allConfirmedMs,
    });
    log(
      `  dispatch run ${run}: ${summary.enqueued} enqueued in ${ms(dispatched.phase.ms)}, ${ok.length} delivered in ${ms(delivered.phase.ms)}, all confirmed ${ms(allConfirmedMs)} after t0`,
    );
  }
  return {
    agents: agentCount,
    capability,
    deliveryPollers: DELIVERY_POLLERS,
    deliveryBatchSize: DELIVERY_BATCH,
    registrationMs: registered.ms,
    runs,
    median: {
      dispatchMs: median(runs.map((r) => r.dispatch.ms)),
      deliveryMs: median(runs.map((r) => r.delivery.ms)),
      lastEnqueuedMs: median(runs.map((r) => r.lastEnqueuedMs)),
      allConfirmedMs: median(runs.map((r) => r.allConfirmedMs)),
    },
  };
}

/** Text report of both figures. */
export function renderBidding(bid: BidThroughputResult, dispatch: DispatchResult): string[] {
  const out: string[] = [];
  out.push(
    renderTable(
      ["Round", "Path", "Bids", "Accepted", "Retried", "Wall", "Bids/s", "DDB calls/bid", "WCU rep", "Calls"],
      bid.runs.map((r) => [
        String(r.round),
        r.path,
        String(r.bids),
        String(r.accepted),
        String(r.retried),
        ms(r.ms),
        r.bidsPerSecond.toFixed(0),
        r.callsPerBid.toFixed(2),
        String(r.reportedWcu),
        formatOperations(r.callsByOperation),
      ]),
    ),
  );
  out.push(
    `\nRatio to the floor (bids/s ÷ floor writes/s, same round): ${bid.ratios
      .map((r) => `round ${r.round}: worker ${r.worker.toFixed(2)}, via SQS ${r.sqs.toFixed(2)}`)
      .join("; ")}`,
  );
  out.push(
    `Median ratio: worker/floor ${bid.medianRatio.worker.toFixed(2)}, worker via SQS/floor ${bid.medianRatio.sqs.toFixed(2)}`,
  );
  const paths: BidPath[] = ["worker", "worker via SQS", "floor"];
  out.push(
    `Median bids/s: ${paths
      .map(
        (p) => `${p} ${median(bid.runs.filter((r) => r.path === p).map((r) => r.bidsPerSecond)).toFixed(0)}`,
      )
      .join(", ")}`,
  );
  out.push(
    `Floor request vs acceptBid's recorded TransactWriteItems: ${
      bid.floorMatchesAcceptBid.identical
        ? "identical tables, keys, expressions, names and placeholders"
        : `DIFFERENT\n    ${bid.floorMatchesAcceptBid.differences.join("\n    ")}`
    }`,
  );
  out.push(
    `  Update TASK: ${bid.acceptBidRequest.conditionCheck}\n  Update BID:  ${bid.acceptBidRequest.updateCondition}`,
  );

  out.push(
    `\nDispatch: ${dispatch.agents} agents with capability "${dispatch.capability}", each with its own queue on the SQS emulator; dispatch() invites and enqueues one delivery job per agent, then ${dispatch.deliveryPollers} pollers drain the delivery queue through the delivery worker's batch handler (batches of ${dispatch.deliveryBatchSize}, records in parallel)`,
  );
  const perInvitation = (p: DispatchPhase) =>
    `${p.dynamoCallsPerInvitation.toFixed(2)} / ${p.sqsCallsPerInvitation.toFixed(2)}`;
  out.push(
    renderTable(
      [
        "Run",
        "Invited",
        "Enqueued",
        "Delivered",
        "Create task",
        "dispatch()",
        "Delivery",
        "Last on agent queue",
        "All confirmed",
        "dispatch DDB/SQS per inv",
        "delivery DDB/SQS per inv",
        "total DDB/SQS per inv",
      ],
      dispatch.runs.map((r) => [
        String(r.run),
        String(r.agents),
        String(r.enqueued),
        String(r.delivered),
        ms(r.createMs),
        ms(r.dispatch.ms),
        ms(r.delivery.ms),
        ms(r.lastEnqueuedMs),
        ms(r.allConfirmedMs),
        perInvitation(r.dispatch),
        perInvitation(r.delivery),
        perInvitation(r.total),
      ]),
    ),
  );
  const last = dispatch.runs.at(-1);
  if (last) {
    out.push(
      `Median: dispatch() ${ms(dispatch.median.dispatchMs)}, delivery ${ms(dispatch.median.deliveryMs)}, last BID_REQUEST on an agent queue ${ms(dispatch.median.lastEnqueuedMs)} after t0, all confirmed ${ms(dispatch.median.allConfirmedMs)} after t0`,
    );
    out.push(`Calls in run ${last.run}: create task  DynamoDB ${formatOperations(last.createCalls)}`);
    out.push(
      `               dispatch()   DynamoDB ${formatOperations(last.dispatch.dynamoCalls)}; SQS ${formatOperations(last.dispatch.sqsCalls)}`,
    );
    out.push(
      `               delivery     DynamoDB ${formatOperations(last.delivery.dynamoCalls)}; SQS ${formatOperations(last.delivery.sqsCalls)}`,
    );
  }
  return out;
}

/**
 * Both figures on the bench's table: starts the SQS emulator in this process, measures bid throughput
 * with `bidders`, then dispatch to {@link DISPATCH_AGENTS} agents of their own, and stops the emulator.
 */
export async function measureBidPipeline(
  base: Omit<BiddingBenchContext, "sqs" | "sqsCalls">,
  bidders: Bidder[],
): Promise<{ bidThroughput: BidThroughputResult; dispatch: DispatchResult }> {
  base.log("starting the SQS emulator; measuring bid throughput");
  const sqsLocal = await startSqsLocal();
  const sqs = createSqsClient({ endpoint: sqsLocal.endpoint, requireLocal: true });
  const sqsCalls = new SqsCallRecorder();
  sqsCalls.install(sqs);
  try {
    const ctx: BiddingBenchContext = { ...base, sqs, sqsCalls };
    const bidThroughput = await measureBidThroughput(ctx, bidders, 5000);
    base.log(`measuring dispatch to ${DISPATCH_AGENTS} SQS agents`);
    const dispatch = await measureDispatch(ctx, DISPATCH_AGENTS, 6000);
    return { bidThroughput, dispatch };
  } finally {
    sqs.destroy();
    base.log("stopping the SQS emulator");
    await sqsLocal.stop();
  }
}

/** How the two figures were taken, for the report's notes. */
export function bidPipelineNotes(bidThroughput: BidThroughputResult): string[] {
  return [
    `Bid throughput: ${BIDDERS} signed BIDs per path per round, ${bidThroughput.concurrency} in flight, each path on fresh INVITED bid items of its own task, paths rotated per round, after ${WARM_UP_ROUNDS} unreported warm-up rounds of ${BIDDERS} bids per path. "worker" calls the bid service's receive() (early award reduced to its O(1) check: one consistent GetItem of the task's counters, no award); "worker via SQS" drains a bids queue on the in-process SQS emulator with ${bidThroughput.sqsPollers} pollers running the Lambda batch handler (batches of ${bidThroughput.sqsBatchSize}, records in order), timed from the first poll (messages enqueued beforehand); "floor" sends acceptBid's TransactWriteItems straight through the DocumentClient. Retried = worker messages that threw and were handed over again / floor transactions cancelled by TransactionConflict and resent.`,
    `Dispatch: t0 is just before tasks.create(); dispatch() is called directly (on AWS the dispatch worker runs it, fed by the dispatch queue from the table stream) and returns once every job is on the delivery queue; "Delivery" then drains that queue with ${DELIVERY_POLLERS} event source pollers running the delivery worker's batch handler as deployed (delivery service, endpoint circuit on the table, SQS endpoint sender, queued award trigger), until every job has an outcome. The two phases run one after the other here; on AWS the delivery worker may start on the first jobs while dispatch() still enqueues the rest, so their sum bounds the path from above. "Last on agent queue" is the newest BID_REQUEST's SentTimestamp after t0; "All confirmed" is when ReceiveMessage had found every agent queue's message (type, task and signature checked), after delivery finished. DDB/SQS per inv = DynamoDB / SQS requests of that phase ÷ invited agents; the delivery phase's SQS requests include the event source's ReceiveMessage and DeleteMessageBatch calls (empty polls too), which Lambda's pollers make on AWS. The emulator runs in this process and shares its CPU; its ApproximateNumberOfMessages counts in-flight messages, so receipt is checked by ReceiveMessage instead.`,
  ];
}
