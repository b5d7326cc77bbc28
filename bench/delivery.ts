/**
 * The delivery bench (`npm run bench -- --delivery`, issue 16): a burst of tasks through the whole
 * call-for-proposals path as deployed, on DynamoDB Local and the in-process SQS emulator, with a
 * share of the invited agents dead.
 *
 * Set-up (not measured): `--agents` agents (10,000) registered through the agent service, and
 * `--tasks` tasks (200), each requiring one capability that exactly 100 agents have. Agent `a` is
 * (g, r) = (a mod M, ⌊a / M⌋) with M = agents / 100 blocks; capability family j ∈ [0, tasks / M)
 * gives it `dlv-f<j>-<(g + j·r) mod M>`, so every capability has one agent per r, 100 in all, and
 * every agent is invited to tasks / M tasks. Agents with r mod 5 = 0 (20 %) are dead: an HTTPS
 * endpoint on a loopback listener that accepts and never answers (test/helpers/black-hole.ts); the others
 * are SQS agents with a queue of their own on the emulator.
 *
 * Measured: the tasks are created in a burst (task service → repository `createTask`), each relayed
 * by the real task-stream handler (fed a stream record of the insert) onto a dispatch queue. Then
 * every function runs as its event source mapping would run it, each with the lane count of its
 * trigger in src/topology.ts (maxConcurrency, batchSize): the dispatch worker (dispatch, and later
 * notify), the delivery worker (sign, send, record, endpoint circuit, award due), the bid worker,
 * the award worker on the FIFO award queue, and the award sweeper on its schedule (rate(1 minute)).
 * Live agents read their queue when the delivery worker reports a send (a doorbell standing in for
 * each agent's long poll; it does not touch the marketplace's timings, which come from SentTimestamp),
 * verify the signature and answer with a signed BID on the bids queue (`reply_to`), as the agent kit
 * does. A few "silent" tasks, with a short deadline, get no answer at all: the sweeper must award them.
 * An award (or NO_BIDS) is relayed by the task-stream handler as a notify message, and the dispatch
 * worker's notify() puts the AWARD and REJECTION notices on the delivery queue.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { Agent as HttpAgent } from "node:http";
import { cpus, loadavg } from "node:os";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, DynamoDBRecord, DynamoDBStreamEvent, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { createEndpointCircuitRepository } from "../src/adapters/dynamo/endpoint-circuit.repository.js";
import { createNonceRepository } from "../src/adapters/dynamo/nonce.repository.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
  DEFAULT_HTTPS_TIMEOUT_MS,
} from "../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../src/adapters/endpoints/sqs-endpoint-sender.js";
import { createSqsAwardQueue } from "../src/adapters/sqs/award-queue.js";
import { createSqsDeliveryQueue } from "../src/adapters/sqs/delivery-queue.js";
import { createAwardService } from "../src/domain/bidding/award.service.js";
import { createQueuedAwardTrigger, DEADLINE_GRACE_MS } from "../src/domain/bidding/award-due.js";
import { createBidService } from "../src/domain/bidding/bid.service.js";
import {
  createDeliveryService,
  DEFAULT_DELIVERY_RETRY,
  type DeliveryOutcome,
} from "../src/domain/bidding/delivery.service.js";
import { createDispatchService, type DispatchService } from "../src/domain/bidding/dispatch.service.js";
import { SIGNATURE_ATTRIBUTE } from "../src/domain/bidding/messages.js";
import { sealMessage, verifyBodySignature } from "../src/domain/bidding/signing.js";
import { createApprovalPolicy } from "../src/domain/governance/approval-policy.js";
import type { Principal } from "../src/domain/identity/principal.js";
import type { TaskRecord } from "../src/domain/tasks/task.types.js";
import { forEachConcurrent } from "../src/lib/concurrency.js";
import { startDynamoDbLocal } from "../src/local/dynamodb-local.js";
import { ratePeriodMs, startSchedule } from "../src/local/scheduler.js";
import { createSqsEventSource } from "../src/local/sqs-event-source.js";
import { startSqsLocal } from "../src/local/sqs-local.js";
import { createObservability } from "../src/observability.js";
import type { BiddingRepository } from "../src/ports/bidding-repository.js";
import type { TaskRepository } from "../src/ports/task-repository.js";
import {
  functionById,
  type QueueName,
  type QueueTrigger,
  queueConsumer,
  visibilityTimeoutSeconds,
} from "../src/topology.js";
import { createAwardSweeper } from "../src/workers/award-sweeper.js";
import { createAwardWorkerBatchHandler } from "../src/workers/award-worker.js";
import { createBidBatchHandler } from "../src/workers/bid-worker.js";
import { createDeliveryBatchHandler } from "../src/workers/delivery-worker.js";
import { createDispatchQueueBatchHandler } from "../src/workers/dispatch-queue.js";
import { createTaskStreamEnqueuer } from "../src/workers/task-stream.js";
import { startBlackHole } from "../test/helpers/black-hole.js";
import { openBenchTable } from "./bench-table.js";
import type { CallRecord } from "./capture.js";
import { reportedUnits } from "./capture.js";
import { issueUrl } from "./fixtures.js";
import { PRICES } from "./prices.js";
import { heading, ms, renderTable } from "./report.js";

/** Agents invited to each task (every capability is held by exactly this many). */
export const INVITED_PER_TASK = 100;
/** One agent in five is dead: r mod 5 = 0. */
const DEAD_EVERY = 5;
/** The issue's targets. */
const TARGET_LIVE_P99_MS = 3000;
/** A new task's bid window when intake creates it (BID_WINDOW_SECONDS' default, src/config.ts). */
const DEFAULT_DEADLINE_SECONDS = 300;
/** The silent tasks' window: short, so the sweeper's part is seen within the run. */
const DEFAULT_SILENT_DEADLINE_SECONDS = 60;
/** Registrations in flight while seeding (64 measured fastest on 2 cores). */
const SEED_CONCURRENCY = 64;
/** Tasks created at once in the burst. */
const CREATE_CONCURRENCY = 16;
/** Agents answering at once (each a receive, a delete and maybe a send on the emulator). */
const AGENT_CONCURRENCY = 64;
/** Long-poll wait of every local event source (Lambda's pollers long-poll too). */
const POLL_WAIT_SECONDS = 1;
/** Bench's own ceiling on a run, beyond the deadline, grace and two sweeps. */
const SETTLE_MARGIN_MS = 180_000;
const OPERATOR: Principal = { kind: "operator", name: "bench-delivery" };
const AGENT_QUEUE_PREFIX = "agentforge-dlv-agent-";

export interface DeliveryBenchOptions {
  tasks: number;
  agents: number;
  /** Tasks (of `tasks`) whose live agents never answer: awarded by the sweeper. */
  silentTasks: number;
  deadlineSeconds: number;
  silentDeadlineSeconds: number;
  /** Delivery worker lanes (concurrent batch handler invocations); the topology's maxConcurrency by default. */
  deliveryLanes: number;
  /** The HTTPS delivery worker's lanes, likewise. */
  httpsDeliveryLanes: number;
}

/** The issue's full scale: 10,000 agents, 200 tasks, the deployed lane counts. */
export function defaultDeliveryOptions(): DeliveryBenchOptions {
  return {
    tasks: 200,
    agents: 10_000,
    silentTasks: 4,
    deadlineSeconds: DEFAULT_DEADLINE_SECONDS,
    silentDeadlineSeconds: DEFAULT_SILENT_DEADLINE_SECONDS,
    deliveryLanes: queueConsumer("delivery").trigger.maxConcurrency,
    httpsDeliveryLanes: queueConsumer("https-delivery").trigger.maxConcurrency,
  };
}

// ---------------------------------------------------------------------------------------------
// Population

interface AgentPlan {
  index: number;
  id: string;
  dead: boolean;
  capabilities: string[];
}

interface TaskPlan {
  index: number;
  id: string;
  capability: string;
  silent: boolean;
}

function population(options: DeliveryBenchOptions): {
  agents: AgentPlan[];
  tasks: TaskPlan[];
  families: number;
} {
  const { agents: agentCount, tasks: taskCount } = options;
  if (
    !(Number.isInteger(agentCount) && agentCount >= INVITED_PER_TASK && agentCount % INVITED_PER_TASK === 0)
  ) {
    throw new Error(`--agents must be a positive multiple of ${INVITED_PER_TASK}`);
  }
  const blocks = agentCount / INVITED_PER_TASK;
  const families = taskCount / blocks;
  if (!(Number.isInteger(families) && families >= 1 && families <= 24)) {
    throw new Error(
      `--tasks must be 1 to 24 times --agents / ${INVITED_PER_TASK} (each agent is invited to tasks × 100 / agents tasks, at most 24 capabilities): ${taskCount} tasks, ${agentCount} agents`,
    );
  }
  if (
    !(Number.isInteger(options.silentTasks) && options.silentTasks >= 0 && options.silentTasks < taskCount)
  ) {
    throw new Error("--silent-tasks must be a whole number below --tasks");
  }
  const capability = (family: number, value: number) => `dlv-f${family}-${value}`;
  const agents: AgentPlan[] = Array.from({ length: agentCount }, (_, a) => {
    const g = a % blocks;
    const r = Math.floor(a / blocks);
    return {
      index: a,
      id: `dlv-${String(a).padStart(5, "0")}`,
      dead: r % DEAD_EVERY === 0,
      capabilities: Array.from({ length: families }, (_, j) => capability(j, (g + j * r) % blocks)),
    };
  });
  const silent = new Set(
    Array.from({ length: options.silentTasks }, (_, i) =>
      Math.floor(((i + 0.5) * taskCount) / options.silentTasks),
    ),
  );
  const tasks: TaskPlan[] = Array.from({ length: taskCount }, (_, t) => ({
    index: t,
    id: issueUrl(160_000 + t),
    capability: capability(Math.floor(t / blocks), t % blocks),
    silent: silent.has(t),
  }));
  return { agents, tasks, families };
}

// ---------------------------------------------------------------------------------------------
// Recording: Lambda invocations, DynamoDB requests and SQS requests, by component

/** Lambda functions of the path, by topology id. */
type FunctionId =
  | "task-stream"
  | "dispatch-worker"
  | "delivery-worker"
  | "https-delivery-worker"
  | "bid-worker"
  | "award-worker"
  | "award-sweeper";
const FUNCTION_IDS: FunctionId[] = [
  "task-stream",
  "dispatch-worker",
  "delivery-worker",
  "https-delivery-worker",
  "bid-worker",
  "award-worker",
  "award-sweeper",
];

interface InvocationStats {
  invocations: number;
  /** Σ wall time, and Σ wall time rounded up to the millisecond per invocation (Lambda's billing). */
  ms: number;
  billedMs: number;
  durations: number[];
  /** Invocations that ran past the function's timeout: Lambda would have cut them off. */
  overTimeout: number;
}

interface DynamoStats {
  calls: Map<string, number>;
  rru: number;
  wru: number;
  /** Calls that failed (a cancelled transaction reports no ConsumedCapacity, so its units are missing). */
  failed: number;
}

interface SqsStats {
  /** Requests by operation. */
  ops: Map<string, number>;
  /** Billed requests: max(1, ⌈payload / 64 KiB⌉) each, empty receives left out. */
  billed: number;
  /** ReceiveMessage calls that returned nothing (local polling cadence, not Lambda's). */
  emptyReceives: number;
}

type QueueClass = "standard" | "fifo" | "agent";

class Ledger {
  readonly lambda = new Map<FunctionId, InvocationStats>();
  readonly dynamo = new Map<string, DynamoStats>();
  readonly sqs = new Map<string, Map<QueueClass, SqsStats>>();

  invocation(fn: FunctionId, millis: number): void {
    const s = this.lambda.get(fn) ?? { invocations: 0, ms: 0, billedMs: 0, durations: [], overTimeout: 0 };
    s.invocations += 1;
    if (millis > functionById(fn).timeoutSeconds * 1000) s.overTimeout += 1;
    s.ms += millis;
    s.billedMs += Math.max(1, Math.ceil(millis));
    s.durations.push(millis);
    this.lambda.set(fn, s);
  }

  dynamoCalls(component: string, calls: CallRecord[]): void {
    if (calls.length === 0) return;
    const s = this.dynamo.get(component) ?? { calls: new Map(), rru: 0, wru: 0, failed: 0 };
    for (const call of calls) {
      s.calls.set(call.command, (s.calls.get(call.command) ?? 0) + 1);
      if (!call.ok) s.failed += 1;
    }
    for (const units of Object.values(reportedUnits(calls))) {
      s.rru += units.rcu;
      s.wru += units.wcu;
    }
    this.dynamo.set(component, s);
  }

  sqsCall(component: string, queue: QueueClass, op: string, bytes: number, empty: boolean): void {
    const byQueue = this.sqs.get(component) ?? new Map<QueueClass, SqsStats>();
    const s = byQueue.get(queue) ?? { ops: new Map(), billed: 0, emptyReceives: 0 };
    s.ops.set(op, (s.ops.get(op) ?? 0) + 1);
    if (empty) s.emptyReceives += 1;
    else s.billed += Math.max(1, Math.ceil(bytes / PRICES.sqs.chunkBytes));
    byQueue.set(queue, s);
    this.sqs.set(component, byQueue);
  }
}

const byteLength = (s: string | undefined) => (s === undefined ? 0 : Buffer.byteLength(s, "utf8"));

function attributeBytes(attributes: Record<string, { StringValue?: string }> | undefined): number {
  let n = 0;
  for (const [name, value] of Object.entries(attributes ?? {}))
    n += byteLength(name) + byteLength(value.StringValue);
  return n;
}

/**
 * Records every request of an SQS client into the ledger under the component in scope (set with
 * {@link run}), with the queue's class (standard, FIFO, or an agent's own queue) and the payload
 * size SQS bills by: the bodies and attributes sent, or those received.
 */
class SqsMeter {
  private readonly scope = new AsyncLocalStorage<string>();
  constructor(private readonly ledger: Ledger) {}

  run<T>(component: string, fn: () => Promise<T>): Promise<T> {
    return this.scope.run(component, fn);
  }

  install(client: SQSClient, fallback: string): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = (context.commandName ?? "Unknown").replace(/Command$/, "");
        const input = args.input as {
          QueueUrl?: string;
          MessageBody?: string;
          MessageAttributes?: Record<string, { StringValue?: string }>;
          Entries?: Array<{
            MessageBody?: string;
            MessageAttributes?: Record<string, { StringValue?: string }>;
          }>;
        };
        const result = await next(args);
        const name = (input.QueueUrl ?? "").split("/").at(-1) ?? "";
        const queue: QueueClass = name.startsWith(AGENT_QUEUE_PREFIX)
          ? "agent"
          : name.endsWith(".fifo")
            ? "fifo"
            : "standard";
        let bytes = byteLength(input.MessageBody) + attributeBytes(input.MessageAttributes);
        for (const entry of input.Entries ?? []) {
          bytes += byteLength(entry.MessageBody) + attributeBytes(entry.MessageAttributes);
        }
        let empty = false;
        if (op === "ReceiveMessage") {
          const messages = (result.output as { Messages?: Message[] }).Messages ?? [];
          empty = messages.length === 0;
          for (const m of messages) bytes += byteLength(m.Body) + attributeBytes(m.MessageAttributes);
        }
        this.ledger.sqsCall(this.scope.getStore() ?? fallback, queue, op, bytes, empty);
        return result;
      },
      { step: "initialize", name: "benchDeliverySqsMeter", override: true },
    );
  }
}

/** A local SQS client with room for every lane's long poll at once (the SDK's default pool is 50 sockets). */
function sqsClient(endpoint: string): SQSClient {
  return new SQSClient({
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    requestHandler: { httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 1024 }) },
  });
}

/** What a Lambda invocation's context gives the handlers: the time left before the function's timeout. */
function invocationContext(timeoutSeconds: number): Context {
  const end = performance.now() + timeoutSeconds * 1000;
  return { getRemainingTimeInMillis: () => Math.max(0, end - performance.now()) } as unknown as Context;
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

const fmt = (millis: number) => (Number.isFinite(millis) ? ms(millis) : "n/a");
const usd = (n: number) =>
  n >= 1 ? `$${n.toFixed(2)}` : n >= 0.01 ? `$${n.toFixed(3)}` : `$${n.toFixed(4)}`;

// ---------------------------------------------------------------------------------------------
// The run

interface BidRequestSample {
  taskId: string;
  agentId: string;
  /** SentTimestamp of the BID_REQUEST on the agent's queue − the task's created_at. */
  ms: number;
}

interface Decision {
  source: "award-worker" | "award-sweeper";
  outcome: "AWARDED" | "NO_BIDS";
  /** awarded_at, or the moment the NO_BIDS transaction returned. */
  at: number;
  winner?: string;
}

interface SweepRun {
  startedAt: number;
  endedAt: number;
  awarded: number;
  noBids: number;
  examined: number;
}

export interface DeliveryResult {
  options: DeliveryBenchOptions;
  families: number;
  lanes: Record<FunctionId, { lanes: number; batchSize: number; memoryMb: number; timeoutSeconds: number }>;
  sweepPeriodMs: number;
  seed: { agents: number; live: number; dead: number; queuesMs: number; registerMs: number };
  burstMs: number;
  invitations: number;
  /** Reasons of the dispatches that sent nothing. */
  dispatchSkipped: string[];
  /** Whether everything settled before the bench's ceiling, when, and what was left if not. */
  settled: { ok: boolean; afterMs: number; remaining: string };
  /** From the first task created to the last BID_REQUEST job's outcome. */
  /** From the first task created to the last bid request job's outcome, on each delivery queue. */
  deliveryDrainMs: { sqs: number; https: number };
  outcomes: { bidRequests: Map<string, number>; notices: Map<string, number> };
  liveBidRequests: BidRequestSample[];
  /**
   * The live samples split: creation → dispatch() began (relay, dispatch queue), dispatch() until
   * every job was enqueued, enqueued → the delivery record began (waiting for a lane), record began →
   * SentTimestamp (secret, circuit, send).
   */
  phases: { toDispatch: number[]; dispatch: number[]; queued: number[]; send: number[] };
  /** Delivery worker invocations' wall time, by function (SQS lanes, HTTPS lanes). */
  deliveryBatches: Record<"delivery-worker" | "https-delivery-worker", number[]>;
  /** 1-minute load average when the burst began, and every 5 s after. */
  load: { cores: number; atStart: number; samples: number[] };
  /** The live agents' BID_REQUEST latencies of silent tasks are in `liveBidRequests` too. */
  awardNoticeMs: number[];
  createdToDecidedMs: number[];
  decisions: { byWorker: number; bySweeper: number; awarded: number; noBids: number };
  sweeper: {
    runs: SweepRun[];
    tasks: Array<{ taskId: string; silent: boolean; lagMs: number; waitMs: number; workMs: number }>;
  };
  deadHold: {
    /** Per main task: last dead invitation settled − last live answer (0 when the live ones were last). */
    holdMs: number[];
    heldTasks: number;
    waitedForDeadline: string[];
    liveUndeliveredTasks: number;
    liveUndelivered: number;
  };
  ledger: Ledger;
  agentErrors: string[];
  badSignatures: number;
  deadConnections: number;
  deadPeakOpen: number;
  wallMs: number;
}

export async function measureDelivery(
  options: DeliveryBenchOptions,
  log: (message: string) => void,
): Promise<DeliveryResult> {
  const wallStart = performance.now();
  const { agents: agentPlans, tasks: taskPlans, families } = population(options);
  const taskById = new Map(taskPlans.map((t) => [t.id, t]));
  const agentById = new Map(agentPlans.map((a) => [a.id, a]));
  const ledger = new Ledger();
  const meter = new SqsMeter(ledger);

  log("starting DynamoDB Local (in memory), the SQS emulator and the dead endpoint");
  const local = await startDynamoDbLocal();
  const sqsLocal = await startSqsLocal();
  const dead = await startBlackHole("127.0.0.1", 4096);
  const table = await openBenchTable(local.endpoint, "AgentForge-Delivery");
  const { recorder, service, agentRepo, taskRepo, biddingRepo } = table;
  /** The marketplace's functions' client, and the agents' (their queues are theirs, not the marketplace's). */
  const sqs = sqsClient(sqsLocal.endpoint);
  meter.install(sqs, "marketplace (unattributed)");
  const agentSqs = sqsClient(sqsLocal.endpoint);
  meter.install(agentSqs, "agents");
  const stops: Array<() => Promise<void>> = [];

  try {
    // ---- Queues, with the deployed visibility timeouts (6 × the consumer's timeout + its window).
    const queue = async (name: QueueName, queueName: string) => {
      const attributes: Record<string, string> = {
        VisibilityTimeout: String(visibilityTimeoutSeconds(name)),
      };
      if (queueName.endsWith(".fifo")) attributes.FifoQueue = "true";
      const { QueueUrl } = await meter.run("set-up", () =>
        sqs.send(new CreateQueueCommand({ QueueName: queueName, Attributes: attributes })),
      );
      if (!QueueUrl) throw new Error("the SQS emulator returned no queue URL");
      return QueueUrl;
    };
    const dispatchQueueUrl = await queue("dispatch", "agentforge-dlv-dispatch");
    const deliveryQueueUrl = await queue("delivery", "agentforge-dlv-delivery");
    const httpsDeliveryQueueUrl = await queue("https-delivery", "agentforge-dlv-https-delivery");
    const bidsQueueUrl = await queue("bids", "agentforge-dlv-bids");
    const awardQueueUrl = await queue("award", "agentforge-dlv-award.fifo");

    // ---- Seed (timed apart, not in any figure).
    const live = agentPlans.filter((a) => !a.dead);
    log(`creating ${live.length} agent queues`);
    const queuesStart = performance.now();
    const agentQueue = new Map<string, string>();
    await forEachConcurrent(live, 32, async (a) => {
      const { QueueUrl } = await meter.run("set-up", () =>
        agentSqs.send(
          new CreateQueueCommand({ QueueName: `${AGENT_QUEUE_PREFIX}${String(a.index).padStart(5, "0")}` }),
        ),
      );
      if (!QueueUrl) throw new Error("the SQS emulator returned no queue URL");
      agentQueue.set(a.id, QueueUrl);
    });
    const queuesMs = performance.now() - queuesStart;
    log(`registering ${agentPlans.length} agents through the agent service, ${SEED_CONCURRENCY} at once`);
    const registerStart = performance.now();
    const secrets = new Map<string, string>();
    let registered = 0;
    await forEachConcurrent(agentPlans, SEED_CONCURRENCY, async (a) => {
      const endpoint = a.dead
        ? `https://127.0.0.1:${dead.port}/agents/${a.id}/bid-requests`
        : (agentQueue.get(a.id) as string);
      const { secret, profile } = await table.agents.register(
        { agent_id: a.id, capabilities: a.capabilities, cost_model: "green", bidding_endpoint: endpoint },
        OPERATOR,
      );
      if (!secret) throw new Error(`${a.id} was already registered`);
      if (profile.endpoint_kind !== (a.dead ? "https" : "sqs")) {
        throw new Error(`${a.id} saved as endpoint_kind ${profile.endpoint_kind}`);
      }
      secrets.set(a.id, secret);
      registered += 1;
      if (registered % 2000 === 0) log(`  ${registered} registered`);
    });
    const registerMs = performance.now() - registerStart;
    log(`  seeded in ${ms(queuesMs + registerMs)}`);

    // ---- The functions, wired as their containers wire them (functions/bidding/*.container.ts).
    const quiet = () => createObservability({ logLevel: "SILENT", metricsSink: () => {} });
    const approval = createApprovalPolicy({});
    const awardQueue = createSqsAwardQueue({ client: sqs, queueUrl: awardQueueUrl });
    const awardTrigger = createQueuedAwardTrigger({ bidding: biddingRepo, queue: awardQueue });

    const agentErrors: string[] = [];
    const createdAt = new Map<string, number>();
    const deadlineOf = new Map<string, number>();
    const decisions = new Map<string, Decision>();
    const relays = new Set<Promise<void>>();

    /** The task-stream function, fed the stream record the table would have produced. */
    const taskStream = createTaskStreamEnqueuer({ client: sqs, queueUrl: dispatchQueueUrl, ...quiet() });
    const relay = (record: DynamoDBRecord): Promise<void> =>
      meter.run("task-stream", () =>
        invoke("task-stream", (event: DynamoDBStreamEvent) => taskStream(event))({
          Records: [record],
        }),
      );
    const relayInBackground = (record: DynamoDBRecord) => {
      const p = relay(record).catch((error: unknown) => {
        agentErrors.push(`task-stream relay: ${(error as Error).message}`);
      });
      relays.add(p);
      void p.finally(() => relays.delete(p));
    };

    /** Lambda invocation: wall time, and the DynamoDB requests it made, under its function id. */
    function invoke<E, R>(
      fn: FunctionId,
      handler: (event: E, context: Context) => Promise<R>,
      component: string = fn,
    ) {
      const { timeoutSeconds } = functionById(fn);
      return async (event: E): Promise<R> => {
        const started = performance.now();
        const m = await recorder.measure(() => handler(event, invocationContext(timeoutSeconds)));
        ledger.invocation(fn, performance.now() - started);
        ledger.dynamoCalls(component, m.calls);
        return m.result;
      };
    }

    /** The repositories as the award runs see them, reporting each decision (the outbox's stream record). */
    const decidingRepositories = (source: Decision["source"]) => {
      const tasks: TaskRepository = {
        ...taskRepo,
        async createAward(input) {
          const award = await taskRepo.createAward(input);
          if (award.status === "AWARDED") {
            decisions.set(award.task_id, {
              source,
              outcome: "AWARDED",
              at: Date.parse(award.awarded_at),
              winner: award.agent_id,
            });
            relayInBackground({
              eventName: "INSERT",
              dynamodb: {
                NewImage: { type: { S: "AWARD" }, status: { S: "AWARDED" }, task_id: { S: award.task_id } },
              },
            });
          }
          return award;
        },
      };
      const bidding: BiddingRepository = {
        ...biddingRepo,
        async closeWithoutBids(taskId) {
          const closed = await biddingRepo.closeWithoutBids(taskId);
          if (closed) {
            decisions.set(taskId, { source, outcome: "NO_BIDS", at: Date.now() });
            relayInBackground({
              eventName: "MODIFY",
              dynamodb: {
                OldImage: { type: { S: "TASK" }, status: { S: "CLOSING" }, task_id: { S: taskId } },
                NewImage: { type: { S: "TASK" }, status: { S: "NO_BIDS" }, task_id: { S: taskId } },
              },
            });
          }
          return closed;
        },
      };
      return { tasks, bidding };
    };

    // Dispatch worker.
    const dispatcher = createDispatchService({
      agents: agentRepo,
      bidding: biddingRepo,
      tasks: taskRepo,
      // As functions/bidding/dispatch-worker.container.ts: HTTPS agents' jobs on a queue of their own.
      deliveries: createSqsDeliveryQueue({
        client: sqs,
        queueUrl: deliveryQueueUrl,
        httpsQueueUrl: httpsDeliveryQueueUrl,
      }),
      bidsQueueUrl,
    });
    let invitations = 0;
    let noticesEnqueued = 0;
    /** Per task: when dispatch() began, and when it returned (every job on the delivery queue). */
    const dispatchTimes = new Map<string, { started: number; enqueued: number }>();
    /** Per (task, agent) bid request: when the delivery worker's record began. */
    const recordStarts = new Map<string, number>();
    const notified = new Set<string>();
    /** Tasks whose dispatch() sent nothing, with the reason (a silent task's short window may pass first). */
    const dispatchSkipped = new Map<string, string>();
    const countingDispatcher: Pick<DispatchService, "dispatch" | "notify"> = {
      async dispatch(taskId) {
        const started = Date.now();
        const summary = await dispatcher.dispatch(taskId);
        invitations += summary.enqueued;
        dispatchTimes.set(taskId, { started, enqueued: Date.now() });
        if (summary.skipped) dispatchSkipped.set(taskId, summary.skipped);
        return summary;
      },
      async notify(taskId) {
        const summary = await dispatcher.notify(taskId);
        noticesEnqueued += summary.enqueued;
        notified.add(taskId);
        return summary;
      },
    };
    const dispatchHandler = createDispatchQueueBatchHandler({ dispatcher: countingDispatcher, ...quiet() });
    const dispatchInvoke = async (event: SQSEvent): Promise<SQSBatchResponse> => {
      // One record per invocation (batchSize 1): the component says which kind of run it was.
      const kind = event.Records.some((r) => r.body.includes('"notify"')) ? "notify" : "dispatch";
      const component = `dispatch-worker: ${kind}`;
      return meter.run(component, () => invoke("dispatch-worker", dispatchHandler, component)(event));
    };

    // Delivery worker.
    const outcomes: Array<DeliveryOutcome & { at: number }> = [];
    const deliveryService = createDeliveryService({
      agents: agentRepo,
      bidding: biddingRepo,
      sender: createEndpointSender({
        sqs: createSqsEndpointSender({ client: sqs }),
        // As deployed but for loopback, which local mode allows: the 3 s timeout, no redirects.
        https: createHttpsEndpointSender({ allowLoopback: true }),
      }),
      circuit: createEndpointCircuitRepository({ service }),
      awards: awardTrigger,
    });
    const deliveryHandler = createDeliveryBatchHandler({
      deliveries: {
        // Each record on its own, so its requests are told apart by kind (bid request or notice).
        deliver: async (job) => {
          if (job.message.type === "BID_REQUEST")
            recordStarts.set(`${job.task_id}\u0000${job.agent_id}`, Date.now());
          const component =
            job.message.type === "BID_REQUEST" ? "delivery: BID_REQUEST" : "delivery: notices";
          const m = await recorder.measure(() => meter.run(component, () => deliveryService.deliver(job)));
          ledger.dynamoCalls(component, m.calls);
          outcomes.push({ ...m.result, at: Date.now() });
          if (m.result.status === "DELIVERED" && !agentById.get(job.agent_id)?.dead) ring(job.agent_id);
          return m.result;
        },
      },
      ...quiet(),
    });

    // Bid worker: the early award as README §3 describes it, an "award due" message (see the notes).
    const bidService = createBidService({
      agents: agentRepo,
      bidding: biddingRepo,
      nonces: createNonceRepository({ service }),
      awards: awardTrigger,
    });
    const bidHandler = createBidBatchHandler({ bids: bidService, ...quiet() });

    // Award worker and sweeper: the award service each builds (buildAwardService), spied for decisions.
    const workerRepos = decidingRepositories("award-worker");
    const workerAwards = createAwardService({ ...workerRepos, agents: agentRepo, approval });
    const awardHandler = createAwardWorkerBatchHandler({ awards: workerAwards, ...quiet() });
    const sweeperRepos = decidingRepositories("award-sweeper");
    const sweeperAwards = createAwardService({ ...sweeperRepos, agents: agentRepo, approval });
    const sweepHandler = createAwardSweeper({ awards: sweeperAwards, ...quiet() });

    // ---- Event sources: one per queue, with the trigger's lanes.
    const lanes = {} as DeliveryResult["lanes"];
    for (const fn of FUNCTION_IDS) {
      const spec = functionById(fn);
      const trigger = spec.trigger.kind === "queue" ? (spec.trigger as QueueTrigger) : undefined;
      lanes[fn] = {
        lanes:
          fn === "delivery-worker"
            ? options.deliveryLanes
            : fn === "https-delivery-worker"
              ? options.httpsDeliveryLanes
              : (trigger?.maxConcurrency ?? 1),
        batchSize: trigger?.batchSize ?? 1,
        memoryMb: spec.memoryMb,
        timeoutSeconds: spec.timeoutSeconds,
      };
    }
    let stopping = false;
    const pollerErrors: string[] = [];
    const startSource = async (
      fn: FunctionId,
      queueUrl: string,
      handler: (event: SQSEvent) => Promise<SQSBatchResponse>,
    ) => {
      const source = createSqsEventSource({ client: sqs, queueUrl, handler, batchSize: lanes[fn].batchSize });
      await meter.run("set-up", () => source.pollOnce()); // resolves the queue ARN outside the figures
      const running = Promise.all(
        Array.from({ length: lanes[fn].lanes }, async () => {
          while (!stopping) {
            try {
              await meter.run(fn, () => source.pollOnce(POLL_WAIT_SECONDS));
            } catch (error) {
              pollerErrors.push(`${fn}: ${(error as Error).message}`);
              await sleep(100);
            }
          }
        }),
      );
      stops.push(async () => {
        stopping = true;
        await running;
      });
    };
    await startSource("dispatch-worker", dispatchQueueUrl, dispatchInvoke);
    // The same handler behind both delivery queues, as the topology deploys it (two functions).
    const deliveryBatches: DeliveryResult["deliveryBatches"] = {
      "delivery-worker": [],
      "https-delivery-worker": [],
    };
    for (const [fn, url] of [
      ["delivery-worker", deliveryQueueUrl],
      ["https-delivery-worker", httpsDeliveryQueueUrl],
    ] as const) {
      const deliveryInvoke = invoke(fn, deliveryHandler);
      await startSource(fn, url, async (event) => {
        const started = performance.now();
        const response = await deliveryInvoke(event);
        deliveryBatches[fn].push(performance.now() - started);
        return response;
      });
    }
    await startSource("bid-worker", bidsQueueUrl, invoke("bid-worker", bidHandler));
    await startSource("award-worker", awardQueueUrl, invoke("award-worker", awardHandler));

    const sweepPeriodMs = ratePeriodMs(
      (functionById("award-sweeper").trigger as { expression: string }).expression,
    );
    const sweeps: SweepRun[] = [];
    const schedule = startSchedule(
      sweepPeriodMs,
      async () => {
        const startedAt = Date.now();
        const summary = await meter.run("award-sweeper", () =>
          invoke("award-sweeper", (event: unknown, context: Context) => sweepHandler(event, context))({
            scheduled_time: new Date(startedAt).toISOString(),
          }),
        );
        sweeps.push({
          startedAt,
          endedAt: Date.now(),
          awarded: summary.awarded,
          noBids: summary.noBids,
          examined: summary.examined,
        });
      },
      (error) => pollerErrors.push(`award-sweeper: ${(error as Error).message}`),
    );
    stops.push(() => schedule.stop());

    // ---- Agents: each live agent reads its queue when a message for it was sent.
    const expected = new Map<string, number>();
    const handled = new Map<string, number>();
    const serving = new Set<string>();
    const waiting: string[] = [];
    let next = 0;
    let busy = 0;
    let badSignatures = 0;
    const liveBidRequests: BidRequestSample[] = [];
    const awardNotices = new Map<string, number>();
    const seen = new Set<string>();
    function ring(agentId: string): void {
      expected.set(agentId, (expected.get(agentId) ?? 0) + 1);
      if (serving.has(agentId)) return;
      serving.add(agentId);
      waiting.push(agentId);
      pump();
    }
    function pump(): void {
      while (busy < AGENT_CONCURRENCY && next < waiting.length) {
        const agentId = waiting[next++] as string;
        busy += 1;
        void meter
          .run("agents", () => serve(agentId))
          .catch((error: unknown) => {
            agentErrors.push(`${agentId}: ${(error as Error).message}`);
          })
          .finally(() => {
            busy -= 1;
            pump();
          });
      }
    }
    async function serve(agentId: string): Promise<void> {
      const queueUrl = agentQueue.get(agentId) as string;
      const secret = secrets.get(agentId) as string;
      let idle = 0;
      // Leaves `serving` in the same tick as the loop's last check, so a ring after it starts a new serve.
      try {
        while ((handled.get(agentId) ?? 0) < (expected.get(agentId) ?? 0)) {
          const { Messages = [] } = await agentSqs.send(
            new ReceiveMessageCommand({
              QueueUrl: queueUrl,
              MaxNumberOfMessages: 10,
              WaitTimeSeconds: 0,
              MessageAttributeNames: ["All"],
              AttributeNames: ["All"],
            }),
          );
          const fresh = Messages.filter((m) => !seen.has(m.MessageId ?? ""));
          if (fresh.length === 0) {
            if (++idle > 100) throw new Error("a message reported sent never showed up on the agent's queue");
            await sleep(20);
            continue;
          }
          for (const message of fresh) {
            seen.add(message.MessageId ?? "");
            handled.set(agentId, (handled.get(agentId) ?? 0) + 1);
            await answer(agentId, secret, message);
          }
          await agentSqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: fresh.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
            }),
          );
        }
      } finally {
        serving.delete(agentId);
      }
    }
    async function answer(agentId: string, secret: string, message: Message): Promise<void> {
      const body = message.Body ?? "";
      const sentTimestamp = Number(message.Attributes?.SentTimestamp);
      if (!verifyBodySignature(secret, body, message.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue)) {
        badSignatures += 1;
        return;
      }
      const parsed = JSON.parse(body) as {
        type: string;
        task_id: string;
        agent_id: string;
        reply_to?: string;
      };
      if (parsed.agent_id !== agentId) {
        badSignatures += 1;
        return;
      }
      if (parsed.type === "BID_REQUEST") {
        const created = createdAt.get(parsed.task_id);
        if (created !== undefined) {
          liveBidRequests.push({ taskId: parsed.task_id, agentId, ms: sentTimestamp - created });
        }
        if (taskById.get(parsed.task_id)?.silent || !parsed.reply_to) return;
        const index = agentById.get(agentId)?.index ?? 0;
        const bid = sealMessage(
          {
            type: "BID",
            task_id: parsed.task_id,
            agent_id: agentId,
            bid_amount: 20 + ((index * 37) % 70),
            estimated_completion_sec: 1800 + (index % 50) * 60,
          },
          secret,
        );
        await agentSqs.send(
          new SendMessageCommand({
            QueueUrl: parsed.reply_to,
            MessageBody: bid.body,
            MessageAttributes: { [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: bid.signature } },
          }),
        );
      } else if (parsed.type === "AWARD") {
        awardNotices.set(parsed.task_id, sentTimestamp);
      }
    }

    // ---- Machine load while the figures are taken (other processes on this machine count too).
    const loadAtStart = loadavg()[0] ?? 0;
    const loadSamples: number[] = [];
    const loadTimer = setInterval(() => loadSamples.push(loadavg()[0] ?? 0), 5_000);
    loadTimer.unref();
    stops.push(async () => clearInterval(loadTimer));

    // ---- The burst.
    log(
      `creating ${taskPlans.length} tasks (${options.silentTasks} silent) in a burst; lanes: dispatch ${lanes["dispatch-worker"].lanes}, delivery ${lanes["delivery-worker"].lanes} × ${lanes["delivery-worker"].batchSize}, HTTPS delivery ${lanes["https-delivery-worker"].lanes} × ${lanes["https-delivery-worker"].batchSize}, bids ${lanes["bid-worker"].lanes}, award ${lanes["award-worker"].lanes}`,
    );
    const burstStart = Date.now();
    await forEachConcurrent(taskPlans, CREATE_CONCURRENCY, async (plan) => {
      const deadline =
        Date.now() + (plan.silent ? options.silentDeadlineSeconds : options.deadlineSeconds) * 1000;
      const m = await recorder.measure(() =>
        table.tasks.create({
          task_id: plan.id,
          title: `Delivery bench task ${plan.index}`,
          required_capabilities: [plan.capability],
          budget: 100,
          bid_deadline: new Date(deadline).toISOString(),
        }),
      );
      ledger.dynamoCalls("task creation", m.calls);
      createdAt.set(plan.id, Date.parse(m.result.task.created_at));
      deadlineOf.set(plan.id, deadline);
      await relay({
        eventName: "INSERT",
        dynamodb: { NewImage: { type: { S: "TASK" }, status: { S: "OPEN" }, task_id: { S: plan.id } } },
      });
    });
    const burstMs = Date.now() - burstStart;
    log(`  ${taskPlans.length} tasks created and relayed in ${ms(burstMs)}`);

    // ---- Wait until every task is decided, every notice has an outcome and the agents are idle.
    /** Every bid request job: known once every task's dispatch() has run. */
    const expectedInvitations = () =>
      dispatchTimes.size === taskPlans.length ? invitations : taskPlans.length * INVITED_PER_TASK;
    const giveUp =
      Date.now() +
      Math.max(options.deadlineSeconds, options.silentDeadlineSeconds) * 1000 +
      DEADLINE_GRACE_MS +
      2 * sweepPeriodMs +
      SETTLE_MARGIN_MS;
    let lastLog = 0;
    let deliveryDrainMs = { sqs: Number.NaN, https: Number.NaN };
    let settled = true;
    let remaining = "";
    for (;;) {
      const bidOutcomes = outcomes.filter((o) => o.kind === "BID_REQUEST").length;
      const noticeOutcomes = outcomes.length - bidOutcomes;
      if (Number.isNaN(deliveryDrainMs.sqs) && bidOutcomes >= expectedInvitations()) {
        const last = (dead: boolean) =>
          Math.max(
            ...outcomes
              .filter((o) => o.kind === "BID_REQUEST" && (agentById.get(o.agent_id)?.dead ?? false) === dead)
              .map((o) => o.at),
          ) - burstStart;
        deliveryDrainMs = { sqs: last(false), https: last(true) };
      }
      remaining = [
        dispatchTimes.size < taskPlans.length ? `${taskPlans.length - dispatchTimes.size} dispatches` : "",
        bidOutcomes < expectedInvitations() ? `${expectedInvitations() - bidOutcomes} bid request jobs` : "",
        decisions.size < taskPlans.length ? `${taskPlans.length - decisions.size} decisions` : "",
        noticeOutcomes < noticesEnqueued ? `${noticesEnqueued - noticeOutcomes} notices` : "",
      ]
        .filter(Boolean)
        .join(", ");
      const done =
        dispatchTimes.size === taskPlans.length &&
        bidOutcomes >= expectedInvitations() &&
        decisions.size === taskPlans.length &&
        [...decisions.keys()].every((id) => notified.has(id)) &&
        noticeOutcomes >= noticesEnqueued &&
        relays.size === 0 &&
        busy === 0 &&
        next >= waiting.length;
      if (done) break;
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(
          `  t+${ms(Date.now() - burstStart)}: bid requests ${bidOutcomes}/${expectedInvitations()} settled, ${decisions.size}/${taskPlans.length} tasks decided, notices ${noticeOutcomes}/${noticesEnqueued}, agents busy ${busy}`,
        );
      }
      if (Date.now() > giveUp) {
        log(`  giving up waiting: the run did not settle (reported as it stands); missing: ${remaining}`);
        settled = false;
        break;
      }
      await sleep(100);
    }
    const settledAt = Date.now();
    log(`  settled ${ms(settledAt - burstStart)} after the burst began; stopping the pollers`);
    for (const stop of stops.splice(0).reverse()) await stop();

    // ---- Read back every task (unmeasured) and derive the figures.
    const records = new Map<string, TaskRecord>();
    await forEachConcurrent(taskPlans, 8, async (plan) => {
      const record = await taskRepo.getTaskRecord(plan.id, { consistent: true, rejections: 0 });
      if (record) records.set(plan.id, record);
    });

    const settledTimes = new Map<string, number>();
    for (const o of outcomes)
      if (o.kind === "BID_REQUEST") settledTimes.set(`${o.task_id}\u0000${o.agent_id}`, o.at);
    const holdMs: number[] = [];
    const waitedForDeadline: string[] = [];
    let heldTasks = 0;
    let liveUndelivered = 0;
    let liveUndeliveredTasks = 0;
    const createdToDecidedMs: number[] = [];
    for (const plan of taskPlans) {
      const record = records.get(plan.id);
      const decision = decisions.get(plan.id);
      if (plan.silent) continue;
      if (decision) createdToDecidedMs.push(decision.at - (createdAt.get(plan.id) ?? decision.at));
      if (!record) continue;
      const liveBids = record.bids.filter((b) => !agentById.get(b.agent_id)?.dead);
      const deadBids = record.bids.filter((b) => agentById.get(b.agent_id)?.dead);
      const undelivered = liveBids.filter((b) => b.delivery_status !== "DELIVERED").length;
      liveUndelivered += undelivered;
      if (undelivered > 0) liveUndeliveredTasks += 1;
      const lastLive = Math.max(
        ...liveBids.map((b) => (b.answered_at ? Date.parse(b.answered_at) : Number.NaN)),
      );
      const lastDead = Math.max(
        ...deadBids.map((b) => settledTimes.get(`${plan.id}\u0000${b.agent_id}`) ?? Number.POSITIVE_INFINITY),
      );
      const hold = Number.isFinite(lastLive) ? Math.max(0, lastDead - lastLive) : Number.NaN;
      if (Number.isFinite(hold)) holdMs.push(hold);
      if (hold > 0) heldTasks += 1;
      // Every live agent had answered before the deadline, yet the task was decided only at its
      // deadline (or not at all): it waited on a dead agent's invitation.
      const due = (deadlineOf.get(plan.id) ?? 0) + DEADLINE_GRACE_MS;
      const liveAllAnswered = undelivered === 0 && liveBids.every((b) => b.status === "ACCEPTED");
      if (liveAllAnswered && lastLive < (deadlineOf.get(plan.id) ?? 0) && (!decision || decision.at >= due)) {
        waitedForDeadline.push(plan.id);
      }
    }

    const phases = {
      toDispatch: [] as number[],
      dispatch: [] as number[],
      queued: [] as number[],
      send: [] as number[],
    };
    for (const sample of liveBidRequests) {
      const created = createdAt.get(sample.taskId);
      const d = dispatchTimes.get(sample.taskId);
      const start = recordStarts.get(`${sample.taskId}\u0000${sample.agentId}`);
      if (created === undefined || !d || start === undefined) continue;
      phases.toDispatch.push(d.started - created);
      phases.dispatch.push(d.enqueued - d.started);
      phases.queued.push(start - d.enqueued);
      phases.send.push(created + sample.ms - start);
    }

    const awardNoticeMs: number[] = [];
    for (const [taskId, decision] of decisions) {
      const sent = awardNotices.get(taskId);
      if (decision.outcome === "AWARDED" && sent !== undefined) awardNoticeMs.push(sent - decision.at);
    }

    const sweptTasks: DeliveryResult["sweeper"]["tasks"] = [];
    for (const [taskId, decision] of decisions) {
      if (decision.source !== "award-sweeper") continue;
      const due = (deadlineOf.get(taskId) ?? 0) + DEADLINE_GRACE_MS;
      const run =
        sweeps.find((s) => s.startedAt >= due && s.startedAt <= decision.at) ??
        sweeps.find((s) => s.endedAt >= decision.at);
      sweptTasks.push({
        taskId,
        silent: taskById.get(taskId)?.silent ?? false,
        lagMs: decision.at - due,
        waitMs: run ? run.startedAt - due : Number.NaN,
        workMs: run ? decision.at - run.startedAt : Number.NaN,
      });
    }

    const countBy = (list: DeliveryOutcome[]) => {
      const counts = new Map<string, number>();
      for (const o of list) {
        const key =
          o.status === "DELIVERED"
            ? `${o.kind} delivered`
            : `${o.kind} failed: ${(o.error ?? "?").replace(/[:(].*$/, "").trim() || "?"}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      return counts;
    };

    return {
      options,
      families,
      lanes,
      sweepPeriodMs,
      seed: {
        agents: agentPlans.length,
        live: live.length,
        dead: agentPlans.length - live.length,
        queuesMs,
        registerMs,
      },
      burstMs,
      invitations,
      dispatchSkipped: [...dispatchSkipped.values()],
      settled: { ok: settled, afterMs: settledAt - burstStart, remaining },
      deliveryDrainMs,
      outcomes: {
        bidRequests: countBy(outcomes.filter((o) => o.kind === "BID_REQUEST")),
        notices: countBy(outcomes.filter((o) => o.kind !== "BID_REQUEST")),
      },
      liveBidRequests,
      phases,
      deliveryBatches,
      load: { cores: cpus().length, atStart: loadAtStart, samples: loadSamples },
      awardNoticeMs,
      createdToDecidedMs,
      decisions: {
        byWorker: [...decisions.values()].filter((d) => d.source === "award-worker").length,
        bySweeper: [...decisions.values()].filter((d) => d.source === "award-sweeper").length,
        awarded: [...decisions.values()].filter((d) => d.outcome === "AWARDED").length,
        noBids: [...decisions.values()].filter((d) => d.outcome === "NO_BIDS").length,
      },
      sweeper: { runs: sweeps, tasks: sweptTasks },
      deadHold: { holdMs, heldTasks, waitedForDeadline, liveUndeliveredTasks, liveUndelivered },
      ledger,
      agentErrors: [...agentErrors, ...pollerErrors],
      badSignatures,
      deadConnections: dead.accepted,
      deadPeakOpen: dead.peakOpen,
      wallMs: performance.now() - wallStart,
    };
  } finally {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
    sqs.destroy();
    agentSqs.destroy();
    table.destroy();
    await dead.close();
    await sqsLocal.stop();
    await local.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Cost model and report

interface CostLine {
  service: "DynamoDB" | "SQS" | "Lambda";
  item: string;
  quantity: string;
  usd: number;
}

function costModel(result: DeliveryResult): {
  lines: CostLine[];
  perTasks: number;
  fixedSweeperPerMonth: number;
} {
  const { ledger } = result;
  const lines: CostLine[] = [];
  let rru = 0;
  let wru = 0;
  for (const [component, s] of ledger.dynamo) {
    if (component === "set-up") continue;
    rru += s.rru;
    wru += s.wru;
  }
  lines.push({
    service: "DynamoDB",
    item: "read request units",
    quantity: rru.toFixed(1),
    usd: (rru / 1e6) * PRICES.dynamodb.perMillionRru,
  });
  lines.push({
    service: "DynamoDB",
    item: "write request units",
    quantity: wru.toFixed(0),
    usd: (wru / 1e6) * PRICES.dynamodb.perMillionWru,
  });
  let standard = 0;
  let fifo = 0;
  for (const [component, byQueue] of ledger.sqs) {
    if (component === "agents" || component === "set-up") continue;
    standard += byQueue.get("standard")?.billed ?? 0;
    fifo += byQueue.get("fifo")?.billed ?? 0;
  }
  // The agents' SendMessage to the bids queue is a request on the marketplace's queue.
  standard += ledger.sqs.get("agents")?.get("standard")?.billed ?? 0;
  lines.push({
    service: "SQS",
    item: "standard queues (dispatch, delivery, bids)",
    quantity: String(standard),
    usd: (standard / 1e6) * PRICES.sqs.perMillionStandard,
  });
  lines.push({
    service: "SQS",
    item: "FIFO queue (award)",
    quantity: String(fifo),
    usd: (fifo / 1e6) * PRICES.sqs.perMillionFifo,
  });
  let sweeperMsMean = 0;
  for (const fn of FUNCTION_IDS) {
    const s = ledger.lambda.get(fn);
    if (!s) continue;
    const { memoryMb } = functionById(fn);
    if (fn === "award-sweeper") {
      sweeperMsMean = s.billedMs / s.invocations;
      continue;
    }
    const gbSeconds = (s.billedMs / 1000) * (memoryMb / 1024);
    lines.push({
      service: "Lambda",
      item: `${fn} (${memoryMb} MB): ${s.invocations} invocations, ${gbSeconds.toFixed(1)} GB-s`,
      quantity: `${s.invocations} / ${gbSeconds.toFixed(1)}`,
      usd:
        (s.invocations / 1e6) * PRICES.lambda.perMillionRequests + gbSeconds * PRICES.lambda.perGbSecondArm,
    });
  }
  const sweeperMemory = functionById("award-sweeper").memoryMb;
  // rate(1 minute): 43,200 runs in a 30-day month, whatever the number of tasks.
  const fixedSweeperPerMonth =
    43_200 * (PRICES.lambda.perMillionRequests / 1e6) +
    43_200 * (sweeperMsMean / 1000) * (sweeperMemory / 1024) * PRICES.lambda.perGbSecondArm;
  return { lines, perTasks: result.options.tasks, fixedSweeperPerMonth };
}

export function renderDelivery(result: DeliveryResult): string {
  const { options, ledger } = result;
  const out: string[] = [];
  const full = defaultDeliveryOptions();
  const isFull =
    options.tasks === full.tasks &&
    options.agents === full.agents &&
    options.deliveryLanes === full.deliveryLanes &&
    options.httpsDeliveryLanes === full.httpsDeliveryLanes;
  out.push(
    heading(
      `Delivery: ${options.tasks} tasks × ${INVITED_PER_TASK} invited agents (${options.agents.toLocaleString("en-US")} agents, 20 % dead)`,
    ),
  );
  out.push(
    `Scale: ${isFull ? "the issue's full scale" : `REDUCED (the issue's scale is --tasks ${full.tasks} --agents ${full.agents}, delivery lanes ${full.deliveryLanes} + ${full.httpsDeliveryLanes} HTTPS)`}: ${options.tasks} tasks, ${options.agents} agents (${result.seed.live} SQS agents with queues on the emulator, ${result.seed.dead} dead HTTPS endpoints), each agent invited to ${result.families} task(s); ${options.silentTasks} silent task(s) (no answers, deadline ${options.silentDeadlineSeconds} s), the rest with deadline ${options.deadlineSeconds} s.`,
  );
  out.push(
    `Local lanes (src/topology.ts trigger maxConcurrency × batchSize): ${(
      ["dispatch-worker", "delivery-worker", "https-delivery-worker", "bid-worker", "award-worker"] as const
    )
      .map((fn) => `${fn} ${result.lanes[fn].lanes} × ${result.lanes[fn].batchSize}`)
      .join(
        ", ",
      )}; award-sweeper every ${result.sweepPeriodMs / 1000} s. Delivery records of a batch run in parallel, so up to ${result.lanes["delivery-worker"].lanes * result.lanes["delivery-worker"].batchSize} SQS and ${result.lanes["https-delivery-worker"].lanes * result.lanes["https-delivery-worker"].batchSize} HTTPS deliveries are in flight; the dispatch worker puts HTTPS agents' jobs on the HTTPS delivery queue (as its container does). HTTPS sender: timeout ${DEFAULT_HTTPS_TIMEOUT_MS / 1000} s, ${DEFAULT_DELIVERY_RETRY.attempts} attempts, allowLoopback.`,
  );
  out.push(
    `Machine: ${result.load.cores} cores; 1-minute load average ${result.load.atStart.toFixed(1)} when the burst began, ${quantile(result.load.samples, 0.5).toFixed(1)} median and ${Math.max(0, ...result.load.samples).toFixed(1)} max during the run (this process and DynamoDB Local, plus whatever else runs on the machine).`,
  );
  out.push(
    `Seed (not in any figure): ${result.seed.live} agent queues in ${ms(result.seed.queuesMs)}, ${result.seed.agents} registrations through the agent service (${SEED_CONCURRENCY} at once) in ${ms(result.seed.registerMs)}. Burst: ${options.tasks} tasks created and relayed in ${ms(result.burstMs)}. Whole section: ${ms(result.wallMs)}.`,
  );

  const liveMs = result.liveBidRequests.map((s) => s.ms);
  const p99 = quantile(liveMs, 0.99);
  out.push(
    result.settled.ok
      ? `Settled (every job had an outcome, every task was decided, every notice sent) ${ms(result.settled.afterMs)} after the burst began.`
      : `NOT SETTLED: the bench stopped waiting ${ms(result.settled.afterMs)} after the burst began with ${result.settled.remaining} outstanding; the figures below are what had happened by then.`,
  );
  out.push("\nTask creation → BID_REQUEST on the live agents' queues (SentTimestamp − created_at):");
  out.push(
    renderTable(
      ["n", "p50", "p90", "p99", "max"],
      [
        [
          String(liveMs.length),
          fmt(quantile(liveMs, 0.5)),
          fmt(quantile(liveMs, 0.9)),
          fmt(p99),
          fmt(Math.max(...liveMs)),
        ],
      ],
    ),
  );
  const ph = result.phases;
  out.push(
    renderTable(
      ["Of which (same samples)", "p50", "p99"],
      [
        [
          "creation → dispatch() began (relay, dispatch queue)",
          fmt(quantile(ph.toDispatch, 0.5)),
          fmt(quantile(ph.toDispatch, 0.99)),
        ],
        [
          "dispatch() until its jobs were enqueued",
          fmt(quantile(ph.dispatch, 0.5)),
          fmt(quantile(ph.dispatch, 0.99)),
        ],
        [
          "enqueued → delivery record began (waiting for a lane)",
          fmt(quantile(ph.queued, 0.5)),
          fmt(quantile(ph.queued, 0.99)),
        ],
        [
          "record began → on the agent's queue (secret, circuit, send)",
          fmt(quantile(ph.send, 0.5)),
          fmt(quantile(ph.send, 0.99)),
        ],
      ],
    ),
  );
  const batches = result.deliveryBatches;
  const h = result.lanes["https-delivery-worker"];
  const laneTime = (fn: "delivery-worker" | "https-delivery-worker") =>
    (batches[fn].reduce((a, b) => a + b, 0) / 1000 / result.lanes[fn].lanes).toFixed(0);
  out.push(
    `Bid request jobs settled (last outcome after the burst began): SQS agents' queue ${fmt(result.deliveryDrainMs.sqs)}, HTTPS agents' queue ${fmt(result.deliveryDrainMs.https)} (${result.invitations} invitations enqueued). Delivery worker batches (bid requests and notices): ${batches["delivery-worker"].length}, p50 ${fmt(quantile(batches["delivery-worker"], 0.5))}, ${laneTime("delivery-worker")} s of lane time per lane; HTTPS delivery worker batches: ${batches["https-delivery-worker"].length}, p50 ${fmt(quantile(batches["https-delivery-worker"], 0.5))}, ${laneTime("https-delivery-worker")} s per lane.`,
  );
  const deadJobs = Math.round(result.invitations / DEAD_EVERY);
  const here = laneBound(h.lanes, h.batchSize, deadJobs);
  const atFull = laneBound(
    full.httpsDeliveryLanes,
    h.batchSize,
    (full.tasks * INVITED_PER_TASK) / DEAD_EVERY,
  );
  out.push(
    `Lane bound of the dead endpoints (computed, not measured): every HTTPS batch here is dead endpoints, each record holding its lane ~${(DEAD_JOB_MS / 1000).toFixed(1)} s, so ${h.lanes} HTTPS lanes settle at most ${here.jobsPerSecond.toFixed(0)} dead invitations/s: this run's ${deadJobs} need ≥ ${here.drainSeconds.toFixed(0)} s, the issue's ${(full.tasks * INVITED_PER_TASK) / DEAD_EVERY} ≥ ${atFull.drainSeconds.toFixed(0)} s, however fast DynamoDB is. A task is awarded early only once its dead invitations are settled, so that is how long the last tasks of a burst wait on dead agents; the SQS agents' jobs have their own queue and lanes and do not wait behind them.`,
  );
  if (result.dispatchSkipped.length > 0) {
    out.push(
      `Dispatches that sent nothing: ${result.dispatchSkipped.length} (${[...new Set(result.dispatchSkipped)].join(", ")}: the dispatch queue reached them after their deadline).`,
    );
  }
  out.push(
    `Outcomes: ${[...result.outcomes.bidRequests, ...result.outcomes.notices].map(([k, n]) => `${k} ${n}`).join("; ")}.`,
  );

  out.push("\nAward:");
  out.push(
    renderTable(
      ["Figure", "n", "p50", "p99", "max"],
      [
        [
          "task creation → decision (tasks with answers)",
          String(result.createdToDecidedMs.length),
          fmt(quantile(result.createdToDecidedMs, 0.5)),
          fmt(quantile(result.createdToDecidedMs, 0.99)),
          fmt(Math.max(...result.createdToDecidedMs)),
        ],
        [
          "awarded_at → AWARD on the winner's queue",
          String(result.awardNoticeMs.length),
          fmt(quantile(result.awardNoticeMs, 0.5)),
          fmt(quantile(result.awardNoticeMs, 0.99)),
          fmt(Math.max(...result.awardNoticeMs)),
        ],
      ],
    ),
  );
  out.push(
    `Decided by the award worker (award due): ${result.decisions.byWorker}; by the sweeper: ${result.decisions.bySweeper}. Awarded ${result.decisions.awarded}, NO_BIDS ${result.decisions.noBids}.`,
  );
  if (result.sweeper.tasks.length === 0) {
    out.push("Sweeper lag: n/a (no task needed the sweeper)");
  } else {
    const lag = result.sweeper.tasks.map((t) => t.lagMs);
    out.push(
      `Sweeper lag (decision − (deadline + ${DEADLINE_GRACE_MS / 1000} s grace)), ${lag.length} task(s): p50 ${fmt(quantile(lag, 0.5))}, max ${fmt(Math.max(...lag))}; of which waiting for the next scheduled run p50 ${fmt(
        quantile(
          result.sweeper.tasks.map((t) => t.waitMs),
          0.5,
        ),
      )}, the run's own work until the decision p50 ${fmt(
        quantile(
          result.sweeper.tasks.map((t) => t.workMs),
          0.5,
        ),
      )}. Silent: ${result.sweeper.tasks.filter((t) => t.silent).length}, others: ${result.sweeper.tasks.filter((t) => !t.silent).length}. Runs: ${result.sweeper.runs.map((r) => `${r.examined} examined/${r.awarded + r.noBids} decided in ${ms(r.endedAt - r.startedAt)}`).join(", ")}.`,
    );
  }

  const hold = result.deadHold;
  out.push(
    `\nDead agents: ${hold.heldTasks} of ${hold.holdMs.length} answered tasks waited on a dead invitation after their last live answer (hold p50 ${fmt(quantile(hold.holdMs, 0.5))}, p99 ${fmt(quantile(hold.holdMs, 0.99))}); tasks that waited for their deadline because of a dead agent: ${hold.waitedForDeadline.length}. Live invitations not delivered (e.g. still queued at the deadline): ${hold.liveUndelivered} in ${hold.liveUndeliveredTasks} task(s). Dead endpoint: ${result.deadConnections} connections, at most ${result.deadPeakOpen} open at once.`,
  );
  const met = (ok: boolean) => (ok ? "MET" : "MISSED");
  out.push(
    `Targets: live p99 ≤ ${TARGET_LIVE_P99_MS / 1000} s: ${met(p99 <= TARGET_LIVE_P99_MS)} (${fmt(p99)}); no task waits for its deadline because of a dead agent: ${met(hold.waitedForDeadline.length === 0 && hold.liveUndelivered === 0)} (${hold.waitedForDeadline.length} waited with every live answer in${hold.liveUndelivered ? `, and ${hold.liveUndeliveredTasks} task(s) lost live invitations to the queue` : ""}).`,
  );

  // Requests per invitation, by component.
  const inv = Math.max(1, result.invitations);
  const components = new Set<string>([...ledger.dynamo.keys(), ...ledger.sqs.keys()]);
  components.delete("set-up");
  const order = [
    "task creation",
    "task-stream",
    "dispatch-worker: dispatch",
    "dispatch-worker",
    "delivery: BID_REQUEST",
    "delivery-worker",
    "https-delivery-worker",
    "bid-worker",
    "award-worker",
    "award-sweeper",
    "dispatch-worker: notify",
    "delivery: notices",
    "agents",
  ];
  const sorted = [...components].sort((a, b) => {
    const ia = order.indexOf(a);
    const ib = order.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const rows: string[][] = [];
  let totals = { ddb: 0, sqs: 0, rru: 0, wru: 0, empty: 0 };
  for (const component of sorted) {
    const d = ledger.dynamo.get(component);
    const q = ledger.sqs.get(component);
    const ddbCalls = d ? [...d.calls.values()].reduce((a, b) => a + b, 0) : 0;
    let sqsCalls = 0;
    let empty = 0;
    const ops = new Map<string, number>();
    for (const [queue, s] of q ?? []) {
      empty += s.emptyReceives;
      for (const [op, n] of s.ops) {
        sqsCalls += n;
        ops.set(
          `${op}${queue === "fifo" ? "(FIFO)" : queue === "agent" ? "(agent q)" : ""}`,
          (ops.get(op) ?? 0) + n,
        );
      }
    }
    if (component !== "agents") {
      totals = {
        ddb: totals.ddb + ddbCalls,
        sqs: totals.sqs + sqsCalls - empty,
        rru: totals.rru + (d?.rru ?? 0),
        wru: totals.wru + (d?.wru ?? 0),
        empty: totals.empty + empty,
      };
    }
    rows.push([
      component,
      String(ddbCalls),
      (ddbCalls / inv).toFixed(2),
      String(sqsCalls - empty),
      ((sqsCalls - empty) / inv).toFixed(2),
      String(empty),
      (d?.rru ?? 0).toFixed(1),
      (d?.wru ?? 0).toFixed(0),
      [
        d ? [...d.calls].map(([op, n]) => `${op} ${n}`).join(", ") : "",
        [...ops].map(([op, n]) => `${op} ${n}`).join(", "),
      ]
        .filter(Boolean)
        .join(" | "),
    ]);
  }
  rows.push([
    "marketplace total",
    String(totals.ddb),
    (totals.ddb / inv).toFixed(2),
    String(totals.sqs),
    (totals.sqs / inv).toFixed(2),
    String(totals.empty),
    totals.rru.toFixed(1),
    totals.wru.toFixed(0),
    "",
  ]);
  out.push(`\nRequests by component (per invitation: ÷ ${result.invitations} bid requests enqueued):`);
  out.push(
    renderTable(
      [
        "Component",
        "DDB calls",
        "/inv",
        "SQS req",
        "/inv",
        "empty rcv",
        "RRU",
        "WRU",
        "Operations (DynamoDB | SQS)",
      ],
      rows,
    ),
  );
  const failedDdb = [...ledger.dynamo.values()].reduce((n, s) => n + s.failed, 0);
  out.push(
    `SQS requests exclude empty receives (the local pollers' long-poll cadence, not Lambda's). ${failedDdb} DynamoDB calls failed (cancelled transactions, conditional checks): DynamoDB Local returns no ConsumedCapacity for them, so their units are missing above; AWS bills them.`,
  );

  // Lambda durations.
  out.push("\nLambda invocations (wall time of each handler invocation here):");
  out.push(
    renderTable(
      ["Function", "Memory", "Timeout", "Invocations", "> timeout", "mean", "p50", "p99", "GB-s"],
      FUNCTION_IDS.flatMap((fn) => {
        const s = ledger.lambda.get(fn);
        if (!s) return [];
        const { memoryMb, timeoutSeconds } = functionById(fn);
        return [
          [
            fn,
            `${memoryMb} MB`,
            `${timeoutSeconds} s`,
            String(s.invocations),
            String(s.overTimeout),
            ms(s.ms / s.invocations),
            ms(quantile(s.durations, 0.5)),
            ms(quantile(s.durations, 0.99)),
            ((s.billedMs / 1000) * (memoryMb / 1024)).toFixed(1),
          ],
        ];
      }),
    ),
  );

  // Cost.
  const cost = costModel(result);
  const scale = 1000 / cost.perTasks;
  const byService = new Map<string, number>();
  for (const line of cost.lines)
    byService.set(line.service, (byService.get(line.service) ?? 0) + line.usd * scale);
  const total = [...byService.values()].reduce((a, b) => a + b, 0);
  out.push(
    `\nCost per 1,000 tasks at ${INVITED_PER_TASK} invited agents (measured quantities × ${1000 / cost.perTasks} ; ${PRICES.region} on-demand prices read ${PRICES.readOn}, bench/prices.ts; Lambda arm64):`,
  );
  out.push(
    renderTable(
      ["Service", "Item", "Quantity in this run", "USD / 1,000 tasks"],
      [
        ...cost.lines.map((l) => [l.service, l.item, l.quantity, usd(l.usd * scale)]),
        ...[...byService].map(([service, n]) => [service, "subtotal", "", usd(n)]),
        ["Total", "", "", usd(total)],
      ],
    ),
  );
  const httpsMemory = functionById("https-delivery-worker").memoryMb;
  const deadGbSeconds =
    (result.deliveryBatches["https-delivery-worker"].length * DEAD_JOB_MS * httpsMemory) / 1000 / 1024;
  out.push(
    `The HTTPS delivery worker's GB-s are the dead endpoints' timeouts: at least ${deadGbSeconds.toFixed(0)} GB-s (${usd(deadGbSeconds * PRICES.lambda.perGbSecondArm * scale)} per 1,000 tasks) = ${result.deliveryBatches["https-delivery-worker"].length} batches × ${(DEAD_JOB_MS / 1000).toFixed(1)} s × ${httpsMemory} MB, the same on Lambda. The rest of every Lambda line is local wall time, longer than Lambda's would be.`,
  );
  const agentQueue = [...ledger.sqs.values()].reduce(
    (n, byQueue) => n + (byQueue.get("agent")?.billed ?? 0),
    0,
  );
  out.push(
    `Not in the total: the award sweeper's fixed ${usd(cost.fixedSweeperPerMonth)} a month (43,200 runs at this run's mean duration, whatever the number of tasks); idle long polls of the event sources; SQS requests on the agents' own queues (${agentQueue} here: the delivery worker's SendMessage and the agents' receives and deletes, on queues the agents own); CloudWatch logs and metrics; the intake of the tasks (only createTask's DynamoDB units are in).`,
  );
  if (result.agentErrors.length > 0 || result.badSignatures > 0) {
    out.push(
      `Errors: ${result.badSignatures} messages failed the agent's signature check; ${result.agentErrors.length} errors, first: ${result.agentErrors.slice(0, 3).join(" / ")}`,
    );
  }
  return out.join("\n");
}

/** Mean backoff between a delivery's attempts: 50–100 ms, then 100–200 ms (src/domain/bidding/delivery.service.ts). */
const MEAN_BACKOFF_MS = 75 + 150;
/** How long a dead HTTPS endpoint holds its delivery record: every attempt times out. */
const DEAD_JOB_MS = DEFAULT_DELIVERY_RETRY.attempts * DEFAULT_HTTPS_TIMEOUT_MS + MEAN_BACKOFF_MS;

/**
 * The HTTPS delivery queue's throughput when every record is a dead endpoint (computed, not
 * measured): each record keeps its lane {@link DEAD_JOB_MS}, records of a batch in parallel.
 */
function laneBound(lanes: number, batchSize: number, jobs: number) {
  const jobsPerSecond = (lanes * batchSize) / (DEAD_JOB_MS / 1000);
  return { jobsPerSecond, drainSeconds: jobs / jobsPerSecond };
}

export function deliveryNotes(result: DeliveryResult): string[] {
  return [
    `Where the time goes, 1: dead endpoints. A dead endpoint holds its delivery record for ~${(DEAD_JOB_MS / 1000).toFixed(1)} s (${DEFAULT_DELIVERY_RETRY.attempts} attempts of ${DEFAULT_HTTPS_TIMEOUT_MS / 1000} s, plus backoff), and a batch handler invocation returns only when all its records are done, so its lane is held that long. The topology gives HTTPS agents a delivery queue and lanes of their own (https-delivery, maxConcurrency ${queueConsumer("https-delivery").trigger.maxConcurrency}), so SQS agents' bid requests and notices never wait behind them; what dead agents still delay is their task's award, which waits until each of its dead invitations has failed (the "waited on a dead invitation" line), and, in a burst, each other (the "lane bound" line). The same holds on AWS.`,
    `Where the time goes, 2: DynamoDB Local and this process on ${result.load.cores} cores. Every live delivery is a few requests (secret, circuit, SendMessage, record), every bid a transaction, every dispatch two invitation transactions of 100 items; the SQS emulator, the agents and every worker run in this one Node process, whose DynamoDB client has the SDK's 50 sockets for every function at once (on AWS each instance has its own). The dispatch queue's ${result.lanes["dispatch-worker"].lanes} lanes are a second queue in front: a dispatch takes seconds here. Handler wall times are therefore longer than on Lambda, except the dead-endpoint waits, which are the sender's timeouts and the same anywhere. The load average above shows what else ran on the machine.`,
    "Not measured: the table stream's hop (the task-stream handler is fed the insert's record directly, one record per invocation; on AWS a stream record reaches Lambda in well under a second, in batches), Lambda's scaling ramp (every lane polls from the start), the bid worker's 1 s batching window (each poll hands over what is there), invocations cut off at the function's timeout (they run to the end here; the \"> timeout\" column counts them), and cold starts (bench: --cold-start).",
    'Bid worker: wired with the queued award trigger (an "award due" message), as README §3 describes; functions/bidding/bid-worker.container.ts as it stands passes the award service (an inline award) by default.',
    `Cost model: DynamoDB RRU/WRU as DynamoDB Local reported them (ReturnConsumedCapacity, GSIs included); SQS requests billed per 64 KiB chunk of payload (every request here is one chunk), empty receives left out, the agents' SendMessage to the bids queue counted (a request on the marketplace's queue); Lambda: invocations plus GB-s of the handler wall times measured here, rounded up to the millisecond, at the memory in src/topology.ts, arm64. The figure is per task of this run: ${result.options.silentTasks} silent task(s) had no bids and no notices, and a bid request that missed its deadline costs less than one delivered and answered.`,
  ];
}

/** The section alone: the figures, then the notes. */
export async function deliverySection(
  options: DeliveryBenchOptions,
  log: (message: string) => void,
): Promise<string> {
  const result = await measureDelivery(options, log);
  return [renderDelivery(result), "\nNotes:", ...deliveryNotes(result).map((n) => `  - ${n}`), ""].join("\n");
}

/**
 * `--delivery` options from the command line, as `--tasks 50` or `--tasks=50`: `--tasks`, `--agents`,
 * `--silent-tasks`, `--deadline-seconds`, `--silent-deadline-seconds`, `--delivery-lanes`. Unset ones
 * take the issue's full scale ({@link defaultDeliveryOptions}); a smaller `--tasks` scales the silent
 * tasks down with it (one in fifty, at least one).
 */
export function deliveryOptionsFrom(argv: readonly string[]): DeliveryBenchOptions {
  const value = (name: string): number | undefined => {
    const flag = `--${name}`;
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i] as string;
      const raw = arg.startsWith(`${flag}=`)
        ? arg.slice(flag.length + 1)
        : arg === flag
          ? argv[i + 1]
          : undefined;
      if (raw === undefined) continue;
      const n = Number(raw);
      if (!(Number.isInteger(n) && n >= 0)) throw new Error(`${flag} must be a whole number, not ${raw}`);
      return n;
    }
    return undefined;
  };
  const defaults = defaultDeliveryOptions();
  const tasks = value("tasks") ?? defaults.tasks;
  return {
    tasks,
    agents: value("agents") ?? defaults.agents,
    silentTasks: value("silent-tasks") ?? Math.max(1, Math.round(tasks / 50)),
    deadlineSeconds: value("deadline-seconds") ?? defaults.deadlineSeconds,
    silentDeadlineSeconds: value("silent-deadline-seconds") ?? defaults.silentDeadlineSeconds,
    deliveryLanes: value("delivery-lanes") ?? defaults.deliveryLanes,
    httpsDeliveryLanes: value("https-delivery-lanes") ?? defaults.httpsDeliveryLanes,
  };
}
