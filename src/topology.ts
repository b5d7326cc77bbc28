import type { DynamoDBRecord } from "aws-lambda";
import { PROJECTED_ITEM_TYPES } from "./domain/governance/projection.js";

/**
 * The one declaration of how AgentForge is wired: every deployed function with its entry, sizing,
 * environment, permissions and trigger; the queues between them; the secrets they read. The CDK app
 * (`infra/`) builds AWS resources from it and the local stack runs the same functions from it, so
 * the two cannot drift apart. Pure data plus small helpers: nothing here imports aws-cdk-lib or reads
 * `process.env`.
 */

/** Environment variables the infrastructure sets on a function (see `src/config.ts`). */
export type EnvKey =
  | "TABLE_NAME"
  | "INTAKE_QUEUE_URL"
  | "BIDS_QUEUE_URL"
  | "PROJECTOR_FAILURES_QUEUE_URL"
  | "DISPATCH_QUEUE_URL"
  | "DELIVERY_QUEUE_URL"
  | "HTTPS_DELIVERY_QUEUE_URL"
  | "AWARD_QUEUE_URL"
  | "CIRCUIT_FAILURE_THRESHOLD"
  | "CIRCUIT_COOLDOWN_SECONDS"
  | "MARKETPLACE_ACCOUNT_ID"
  | "GITHUB_WEBHOOK_SECRET_ARN"
  | "AGENTFORGE_API_TOKEN_ARN"
  | "AGENTFORGE_OPERATORS_ARN"
  | "API_KEY_OVERLAP_SECONDS"
  | "BID_SECRET_KMS_KEY_ID"
  | "SECRET_ROTATION_OVERLAP_SECONDS"
  | "DATABASE_URL_SECRET_ARN"
  | "AUDIT_HMAC_KEY_ARN"
  | "AUDIT_ANCHOR_KMS_KEY_ID"
  | "AUDIT_ANCHOR_BUCKET"
  | "AUDIT_ANCHOR_MIN_INTERVAL_SECONDS"
  | "APPROVAL_THRESHOLD"
  | "ESCROW_TIMEOUT_HOURS"
  | "BID_WINDOW_SECONDS"
  | "MESSAGE_MAX_SKEW_SECONDS"
  | "MARKETPLACE_LABEL"
  | "HUMAN_INTERVENTION_LABEL"
  | "WEBHOOK_MAX_BODY_BYTES"
  | "DELIVERY_TTL_SECONDS"
  | "GITHUB_ALLOWED_REPOSITORIES"
  | "GITHUB_TRUSTED_CHECK_APPS";

export type QueueName = "intake" | "bids" | "dispatch" | "delivery" | "https-delivery" | "award";
export type SecretName = "githubWebhookSecret" | "apiToken" | "operators" | "auditHmacKey" | "databaseUrl";

export interface QueueSpec {
  /** The variable that carries the queue's URL to functions that send to it (or name it, as `reply_to`). */
  envKey: EnvKey;
  /** Receives before a message moves to the queue's DLQ. */
  maxReceiveCount: number;
  /** How long an undelivered message is kept (SQS allows up to 14 days). */
  retentionDays: number;
  /** The age of the oldest message that raises an alarm. */
  oldestMessageAlarmSeconds: number;
  /**
   * A FIFO queue (its DLQ too): messages carry a group and a deduplication id, and SQS drops a
   * duplicate sent within 5 minutes. Its name ends in `.fifo`.
   */
  fifo?: boolean;
  description: string;
}

/** The work queues. Each gets a DLQ; the consumer is the function whose trigger names the queue. */
export const QUEUES: Readonly<Record<QueueName, QueueSpec>> = {
  intake: {
    envKey: "INTAKE_QUEUE_URL",
    maxReceiveCount: 5,
    retentionDays: 4,
    oldestMessageAlarmSeconds: 300,
    description: "Verified GitHub deliveries, reduced to the fields the intake worker reads",
  },
  bids: {
    envKey: "BIDS_QUEUE_URL",
    maxReceiveCount: 5,
    retentionDays: 4,
    // A bid that waits this long may miss its task's bid window (BID_WINDOW_SECONDS, default 300).
    oldestMessageAlarmSeconds: 120,
    description: "Agents' signed BID / DECLINE / COST_REPORT messages (the reply_to of bid requests)",
  },
  dispatch: {
    envKey: "DISPATCH_QUEUE_URL",
    maxReceiveCount: 5,
    retentionDays: 1,
    oldestMessageAlarmSeconds: 120,
    description: "Task ids from the table stream: new tasks to invite, decided tasks whose notices are due",
  },
  delivery: {
    envKey: "DELIVERY_QUEUE_URL",
    // A notice that does not get through is offered again after the visibility timeout: five tries
    // over about 15 minutes, then the DLQ (which alarms). A bid request is tried once (with retries).
    maxReceiveCount: 5,
    retentionDays: 1,
    // A bid request that waits this long eats a fifth of a default bid window (BID_WINDOW_SECONDS 300).
    oldestMessageAlarmSeconds: 60,
    description: "One job per (task, agent) with an SQS endpoint: a bid request or a notice to sign and send",
  },
  // HTTPS endpoints get a queue (and lanes) of their own: a crowd of dead HTTPS endpoints, each
  // holding a lane for its timeouts, can never delay a delivery to an SQS agent.
  "https-delivery": {
    envKey: "HTTPS_DELIVERY_QUEUE_URL",
    maxReceiveCount: 5,
    retentionDays: 1,
    oldestMessageAlarmSeconds: 60,
    description:
      "One job per (task, agent) with an HTTPS endpoint: a bid request or a notice to sign and send",
  },
  award: {
    envKey: "AWARD_QUEUE_URL",
    maxReceiveCount: 5,
    retentionDays: 1,
    oldestMessageAlarmSeconds: 120,
    fifo: true,
    description:
      '"Award due" messages, one per task (FIFO deduplication): every invited agent answered or is unreachable',
  },
};

export interface SecretSpec {
  /** The variable holding the secret's ARN or name; the value is read at run time, never from the environment. */
  envKey: EnvKey;
  /** The Secrets Manager name used when the secret is created or imported by name. */
  defaultName: string;
  /** Whether the CDK app may create it with a random value (`createSecrets` context). */
  generated: boolean;
  /** The generated value is a JSON object with this one key holding the random string. */
  generatedJsonKey?: string;
  description: string;
}

export const SECRETS: Readonly<Record<SecretName, SecretSpec>> = {
  githubWebhookSecret: {
    envKey: "GITHUB_WEBHOOK_SECRET_ARN",
    defaultName: "agentforge/github-webhook-secret",
    generated: true,
    description: "Secret of the GitHub webhook (X-Hub-Signature-256)",
  },
  apiToken: {
    envKey: "AGENTFORGE_API_TOKEN_ARN",
    defaultName: "agentforge/api-token",
    generated: true,
    description: "Bearer token of the AgentForge REST API: the default operator (operator:default)",
  },
  operators: {
    envKey: "AGENTFORGE_OPERATORS_ARN",
    defaultName: "agentforge/operators",
    generated: true,
    // Created as {"admin":"<random>"}; ops add one entry per human (see docs/deploy.md).
    generatedJsonKey: "admin",
    description: 'Named operators\' bearer tokens, a JSON object {"<name>": "<token>"}',
  },
  auditHmacKey: {
    envKey: "AUDIT_HMAC_KEY_ARN",
    defaultName: "agentforge/audit-hmac-key",
    generated: true,
    description: "HMAC key of the governance audit log's hash chain (at least 32 characters)",
  },
  databaseUrl: {
    envKey: "DATABASE_URL_SECRET_ARN",
    defaultName: "agentforge/database-url",
    generated: false,
    description: "Governance PostgreSQL: a postgres:// URL or an RDS secret's JSON",
  },
};

/** What a function may do, symbolically; the CDK app turns each into the narrowest grant it has. */
export type Grant =
  | { kind: "table"; access: "read" | "readWrite" }
  /** Read the table's stream (only functions triggered by it). */
  | { kind: "tableStream" }
  | { kind: "queueSend"; queue: QueueName }
  | { kind: "queueConsume"; queue: QueueName }
  /**
   * The failure queue of a stream consumer (`of`: its function id; the URL in
   * PROJECTOR_FAILURES_QUEUE_URL): `send` puts permanently failing records there, `consume`
   * receives, deletes and releases them (the replayer).
   */
  | { kind: "streamFailures"; of: string; access: "send" | "consume" }
  | { kind: "secretRead"; secret: SecretName }
  /**
   * The KMS key that encrypts agents' bid secrets (its ARN in `BID_SECRET_KMS_KEY_ID`), for these
   * actions only and only under the bid-secret encryption context.
   */
  | { kind: "bidSecretKey"; actions: ReadonlyArray<"kms:GenerateDataKey" | "kms:Decrypt"> }
  /**
   * The audit anchor key (asymmetric KMS, its ARN in AUDIT_ANCHOR_KMS_KEY_ID): `kms:Sign` for
   * functions that write anchors, `kms:GetPublicKey` for those that verify them.
   */
  | { kind: "auditAnchorKey"; actions: ReadonlyArray<"kms:Sign" | "kms:GetPublicKey"> }
  /**
   * The audit anchor bucket (Object Lock, its name in AUDIT_ANCHOR_BUCKET), `anchors/*` only:
   * PutObject to write an anchor, GetObject and ListBucket to find and read the newest. Never
   * DeleteObject, PutObjectRetention or BypassGovernanceRetention.
   */
  | { kind: "auditAnchorBucket"; actions: ReadonlyArray<"s3:PutObject" | "s3:GetObject" | "s3:ListBucket"> }
  /** Agents' own queues, in other accounts: the only cross-account permission. */
  | { kind: "agentQueues"; actions: ReadonlyArray<"sqs:SendMessage" | "sqs:GetQueueAttributes"> };

export type HttpMethod = "GET" | "POST" | "ANY";

export interface HttpRoute {
  method: HttpMethod;
  /** HTTP API route path; `{proxy+}` is greedy (task ids are percent-encoded URLs). */
  path: string;
  /**
   * `none`: the function authenticates the request itself (the webhook's HMAC signature).
   * `token`: the gateway's authorizer resolves the bearer token (operator token or agent API key) to a
   * principal and passes it in the request context; the function authorizes each route against it.
   */
  auth: "none" | "token";
}

/**
 * A Lambda event filter pattern for table stream records (AND within a pattern, arrays list the
 * accepted values). A trigger with several patterns passes a record that matches any of them.
 */
export interface StreamFilterPattern {
  eventName?: ReadonlyArray<"INSERT" | "MODIFY" | "REMOVE">;
  dynamodb?: {
    NewImage?: { type: { S: readonly string[] }; status?: { S: readonly string[] } };
    OldImage?: { type: { S: readonly string[] } };
  };
}

export interface QueueTrigger {
  kind: "queue";
  queue: QueueName;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  /** Most concurrent invocations the event source starts (2–1000). */
  maxConcurrency: number;
}

export interface StreamTrigger {
  kind: "stream";
  /** Only records matching one of these reach the function (empty = every record). */
  filters: readonly StreamFilterPattern[];
  batchSize: number;
  maxBatchingWindowSeconds: number;
  /** Where a new event source mapping starts. */
  startingPosition: "TRIM_HORIZON" | "LATEST";
  retryAttempts: number;
  /** Records older than this are given up on (sent to the on-failure destination). */
  maxRecordAgeSeconds: number;
  bisectBatchOnError: boolean;
  /** The function answers `batchItemFailures` with the first failed record. */
  reportBatchItemFailures: boolean;
  /** Given-up records' metadata go to an SQS queue of their own (`<function id>` failures queue). */
  onFailure: "queue";
  /** The age of the newest record read (IteratorAge) that raises an alarm: the consumer is behind. */
  iteratorAgeAlarmSeconds: number;
}

export interface ScheduleTrigger {
  kind: "schedule";
  /** EventBridge Scheduler expression, UTC. */
  expression: string;
  description: string;
}

/** No event source: operators invoke the function themselves (`aws lambda invoke`). */
export interface InvokeTrigger {
  kind: "invoke";
  description: string;
}

export type Trigger =
  | { kind: "http"; routes: readonly HttpRoute[] }
  | { kind: "authorizer" }
  | QueueTrigger
  | StreamTrigger
  | ScheduleTrigger
  | InvokeTrigger;

export interface FunctionSpec {
  /** Stable id: construct id, log keys, local runner name. */
  id: string;
  /** Path of the module exporting `handler`, relative to the repository root. */
  entry: string;
  description: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** Reserved concurrency; unset leaves the function on the account's unreserved pool. */
  reservedConcurrency?: number;
  environment: readonly EnvKey[];
  grants: readonly Grant[];
  trigger: Trigger;
  /** Talks to the governance PostgreSQL server: placed in the VPC when one is configured. */
  postgres: boolean;
}

const secretRead = (secret: SecretName): Grant => ({ kind: "secretRead", secret });
const governanceSecrets = [secretRead("databaseUrl"), secretRead("auditHmacKey")] as const;
/** Verifies the chain against the newest anchor: the public key and reads of the anchor bucket. */
const anchorReader = [
  { kind: "auditAnchorKey", actions: ["kms:GetPublicKey"] },
  { kind: "auditAnchorBucket", actions: ["s3:GetObject", "s3:ListBucket"] },
] as const satisfies readonly Grant[];
/**
 * Every function that reads or writes agents' bid secrets: Decrypt to sign or verify, and
 * GenerateDataKey to seal one — a new or rotated secret, and also a legacy plain-text item, which
 * whichever function reads it first re-encrypts. Both only under the bid-secret encryption context.
 */
const bidSecretKey: Grant = { kind: "bidSecretKey", actions: ["kms:Decrypt", "kms:GenerateDataKey"] };

/**
 * A delivery worker: the one handler, on one delivery queue. SQS and HTTPS agents each get one, so
 * their lanes are separate; they differ only in their queue and what else they may reach.
 */
function deliveryWorker(
  id: string,
  queue: QueueName,
  description: string,
  extraGrants: readonly Grant[],
): FunctionSpec {
  return {
    id,
    entry: "functions/bidding/delivery-worker.handler.ts",
    description,
    // A batch's records run in parallel; each is up to 3 attempts of 3 s (a dead HTTPS endpoint).
    timeoutSeconds: 30,
    memoryMb: 512,
    environment: [
      "TABLE_NAME",
      "AWARD_QUEUE_URL",
      "BID_SECRET_KMS_KEY_ID",
      "CIRCUIT_FAILURE_THRESHOLD",
      "CIRCUIT_COOLDOWN_SECONDS",
    ],
    grants: [
      { kind: "table", access: "readWrite" },
      { kind: "queueConsume", queue },
      { kind: "queueSend", queue: "award" },
      ...extraGrants,
      // Signs each message with the agent's secret.
      bidSecretKey,
    ],
    // Many small batches in parallel: a dead endpoint holds one record's lane, never a task's.
    trigger: { kind: "queue", queue, batchSize: 10, maxBatchingWindowSeconds: 0, maxConcurrency: 50 },
    postgres: false,
  };
}

/** Every deployed function. */
export const FUNCTIONS: readonly FunctionSpec[] = [
  {
    id: "github-receiver",
    entry: "functions/webhooks/github-receiver.handler.ts",
    description: "POST /webhooks/github: verifies the signature and queues the delivery",
    // GitHub gives up on a delivery after 10 s.
    timeoutSeconds: 10,
    memoryMb: 512,
    environment: ["INTAKE_QUEUE_URL", "GITHUB_WEBHOOK_SECRET_ARN", "WEBHOOK_MAX_BODY_BYTES"],
    grants: [{ kind: "queueSend", queue: "intake" }, secretRead("githubWebhookSecret")],
    trigger: { kind: "http", routes: [{ method: "POST", path: "/webhooks/github", auth: "none" }] },
    postgres: false,
  },
  {
    id: "intake-worker",
    entry: "functions/webhooks/intake-worker.handler.ts",
    description: "Intake queue: GitHub deliveries to tasks and ledger outcomes",
    timeoutSeconds: 30,
    memoryMb: 512,
    environment: [
      "TABLE_NAME",
      "MARKETPLACE_LABEL",
      "HUMAN_INTERVENTION_LABEL",
      "BID_WINDOW_SECONDS",
      "DELIVERY_TTL_SECONDS",
      "GITHUB_ALLOWED_REPOSITORIES",
      "GITHUB_TRUSTED_CHECK_APPS",
    ],
    grants: [
      { kind: "table", access: "readWrite" },
      { kind: "queueConsume", queue: "intake" },
    ],
    trigger: {
      kind: "queue",
      queue: "intake",
      batchSize: 10,
      maxBatchingWindowSeconds: 1,
      maxConcurrency: 5,
    },
    postgres: false,
  },
  {
    id: "rest-api",
    entry: "functions/api/rest-api.handler.ts",
    description: "REST API for operators and agents: tasks, agents, approvals, escrows, audit",
    // The HTTP API waits at most 30 s for an integration.
    timeoutSeconds: 29,
    memoryMb: 512,
    environment: [
      "TABLE_NAME",
      "MARKETPLACE_ACCOUNT_ID",
      "AGENTFORGE_API_TOKEN_ARN",
      "AGENTFORGE_OPERATORS_ARN",
      "API_KEY_OVERLAP_SECONDS",
      "BID_SECRET_KMS_KEY_ID",
      "SECRET_ROTATION_OVERLAP_SECONDS",
      "DATABASE_URL_SECRET_ARN",
      "AUDIT_HMAC_KEY_ARN",
      "AUDIT_ANCHOR_KMS_KEY_ID",
      "AUDIT_ANCHOR_BUCKET",
      "APPROVAL_THRESHOLD",
      "ESCROW_TIMEOUT_HOURS",
    ],
    grants: [
      { kind: "table", access: "readWrite" },
      secretRead("apiToken"),
      secretRead("operators"),
      ...governanceSecrets,
      // GET /audit/verify checks the chain against the newest anchor; it never writes one.
      ...anchorReader,
      // Registration and rotation seal secrets.
      bidSecretKey,
    ],
    trigger: {
      kind: "http",
      routes: [
        { method: "ANY", path: "/tasks/{proxy+}", auth: "token" },
        { method: "ANY", path: "/agents", auth: "token" },
        { method: "ANY", path: "/agents/{proxy+}", auth: "token" },
        { method: "ANY", path: "/approvals", auth: "token" },
        { method: "ANY", path: "/approvals/{proxy+}", auth: "token" },
        { method: "ANY", path: "/escrows", auth: "token" },
        { method: "ANY", path: "/escrows/{proxy+}", auth: "token" },
        { method: "GET", path: "/audit/verify", auth: "token" },
        // Answers 503 on AWS (no access to the failure queue): there the governance-replay function replays.
        { method: "POST", path: "/governance/replay", auth: "token" },
      ],
    },
    postgres: true,
  },
  {
    id: "api-authorizer",
    entry: "functions/api/token-authorizer.handler.ts",
    description: "HTTP API Lambda authorizer: operator tokens and agent API keys to a principal",
    timeoutSeconds: 5,
    memoryMb: 256,
    environment: ["TABLE_NAME", "AGENTFORGE_API_TOKEN_ARN", "AGENTFORGE_OPERATORS_ARN"],
    // Reads only API key items (GetItem by key id); the table grant is read-only.
    grants: [{ kind: "table", access: "read" }, secretRead("apiToken"), secretRead("operators")],
    trigger: { kind: "authorizer" },
    postgres: false,
  },
  {
    id: "task-stream",
    entry: "functions/bidding/task-stream.handler.ts",
    description: "Table stream outbox relay: new tasks to dispatch, awards and NO_BIDS tasks to notify",
    timeoutSeconds: 30,
    memoryMb: 256,
    environment: ["DISPATCH_QUEUE_URL"],
    grants: [{ kind: "tableStream" }, { kind: "queueSend", queue: "dispatch" }],
    trigger: {
      kind: "stream",
      filters: [
        { eventName: ["INSERT"], dynamodb: { NewImage: { type: { S: ["TASK"] } } } },
        // The outbox: an award written or approved AWARDED, a task closed NO_BIDS (see task-stream.ts).
        {
          eventName: ["INSERT", "MODIFY"],
          dynamodb: { NewImage: { type: { S: ["AWARD"] }, status: { S: ["AWARDED"] } } },
        },
        {
          eventName: ["MODIFY"],
          dynamodb: { NewImage: { type: { S: ["TASK"] }, status: { S: ["NO_BIDS"] } } },
        },
      ],
      batchSize: 100,
      maxBatchingWindowSeconds: 0,
      startingPosition: "TRIM_HORIZON",
      retryAttempts: 10,
      // A task older than this has long passed its bid window; dispatch would skip it anyway.
      maxRecordAgeSeconds: 3600,
      bisectBatchOnError: true,
      reportBatchItemFailures: false,
      onFailure: "queue",
      iteratorAgeAlarmSeconds: 120,
    },
    postgres: false,
  },
  {
    id: "dispatch-worker",
    entry: "functions/bidding/dispatch-worker.handler.ts",
    description: "Dispatch queue: fan a task out to one delivery job per agent (bid requests, notices)",
    // Reads and invites, then SendMessageBatch: no agent endpoint is contacted here.
    timeoutSeconds: 30,
    memoryMb: 512,
    environment: ["TABLE_NAME", "BIDS_QUEUE_URL", "DELIVERY_QUEUE_URL", "HTTPS_DELIVERY_QUEUE_URL"],
    grants: [
      { kind: "table", access: "readWrite" },
      { kind: "queueConsume", queue: "dispatch" },
      { kind: "queueSend", queue: "delivery" },
      { kind: "queueSend", queue: "https-delivery" },
    ],
    trigger: {
      kind: "queue",
      queue: "dispatch",
      batchSize: 1,
      maxBatchingWindowSeconds: 0,
      maxConcurrency: 10,
    },
    postgres: false,
  },
  deliveryWorker(
    "delivery-worker",
    "delivery",
    "Delivery queue: sign and send one message to one agent, behind its endpoint's circuit breaker",
    // Agents' own queues, in other accounts: this worker's only cross-account permission.
    [{ kind: "agentQueues", actions: ["sqs:SendMessage"] }],
  ),
  deliveryWorker(
    "https-delivery-worker",
    "https-delivery",
    "HTTPS delivery queue: the same worker for agents with HTTPS endpoints, on lanes of their own",
    [],
  ),
  {
    id: "award-worker",
    entry: "functions/bidding/award-worker.handler.ts",
    description: '"Award due" queue: award a task whose invited agents all answered or are unreachable',
    timeoutSeconds: 30,
    memoryMb: 512,
    environment: ["TABLE_NAME", "APPROVAL_THRESHOLD"],
    grants: [
      { kind: "table", access: "readWrite" },
      { kind: "queueConsume", queue: "award" },
    ],
    trigger: { kind: "queue", queue: "award", batchSize: 10, maxBatchingWindowSeconds: 0, maxConcurrency: 5 },
    postgres: false,
  },
  {
    id: "bid-worker",
    entry: "functions/bidding/bid-worker.handler.ts",
    description: 'Bids queue: signed bids, declines and cost reports; "award due" when all answered',
    timeoutSeconds: 30,
    memoryMb: 512,
    environment: ["TABLE_NAME", "AWARD_QUEUE_URL", "BID_SECRET_KMS_KEY_ID", "MESSAGE_MAX_SKEW_SECONDS"],
    grants: [
      { kind: "table", access: "readWrite" },
      { kind: "queueConsume", queue: "bids" },
      { kind: "queueSend", queue: "award" },
      // Verifies agents' messages (Decrypt of their sealed secrets).
      bidSecretKey,
    ],
    trigger: { kind: "queue", queue: "bids", batchSize: 10, maxBatchingWindowSeconds: 1, maxConcurrency: 10 },
    postgres: false,
  },
  {
    id: "award-sweeper",
    entry: "functions/bidding/award-sweeper.handler.ts",
    description: "Every minute: award every open task past its bid deadline",
    // Shorter than the period, so runs do not pile up.
    timeoutSeconds: 55,
    memoryMb: 512,
    environment: ["TABLE_NAME", "APPROVAL_THRESHOLD"],
    // Awards only: the notices go through the table stream and the delivery queue.
    grants: [{ kind: "table", access: "readWrite" }],
    trigger: {
      kind: "schedule",
      expression: "rate(1 minute)",
      description: "Award tasks past their deadline",
    },
    postgres: false,
  },
  {
    id: "projector",
    entry: "functions/governance/projector.handler.ts",
    description: "Table stream: governance events to Postgres, in order, exactly once",
    timeoutSeconds: 60,
    memoryMb: 512,
    environment: [
      "TABLE_NAME",
      "DATABASE_URL_SECRET_ARN",
      "AUDIT_HMAC_KEY_ARN",
      "ESCROW_TIMEOUT_HOURS",
      "PROJECTOR_FAILURES_QUEUE_URL",
      "AUDIT_ANCHOR_KMS_KEY_ID",
      "AUDIT_ANCHOR_BUCKET",
      "AUDIT_ANCHOR_MIN_INTERVAL_SECONDS",
    ],
    grants: [
      { kind: "tableStream" },
      { kind: "table", access: "readWrite" },
      ...governanceSecrets,
      // Anchors the chain head after each batch: signs (no GetPublicKey), writes the anchor, and reads
      // the newest one (whether the head moved, the minimum interval, that the chain still matches it).
      { kind: "auditAnchorKey", actions: ["kms:Sign"] },
      { kind: "auditAnchorBucket", actions: ["s3:PutObject", "s3:GetObject", "s3:ListBucket"] },
      // Records that fail for a permanent reason go to the failure queue, so the stream moves on.
      { kind: "streamFailures", of: "projector", access: "send" },
    ],
    trigger: {
      kind: "stream",
      filters: [
        { dynamodb: { NewImage: { type: { S: [...PROJECTED_ITEM_TYPES] } } } },
        { dynamodb: { OldImage: { type: { S: [...PROJECTED_ITEM_TYPES] } } } },
      ],
      batchSize: 100,
      maxBatchingWindowSeconds: 1,
      startingPosition: "TRIM_HORIZON",
      // Transient failures (Postgres down, timeouts) retry for minutes, not a day: the record's age
      // decides, then Lambda puts the batch's range on the failure queue and replay picks it up.
      // Permanent failures never wait: the handler sets the record aside at once.
      retryAttempts: 10_000,
      maxRecordAgeSeconds: 900,
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      onFailure: "queue",
      // Postgres being down shows here first.
      iteratorAgeAlarmSeconds: 600,
    },
    postgres: true,
  },
  {
    id: "governance-replay",
    entry: "functions/governance/replay.handler.ts",
    description: "On demand: re-apply the projector's failed records once their cause is fixed",
    timeoutSeconds: 300,
    memoryMb: 512,
    environment: [
      "TABLE_NAME",
      "DATABASE_URL_SECRET_ARN",
      "AUDIT_HMAC_KEY_ARN",
      "ESCROW_TIMEOUT_HOURS",
      "PROJECTOR_FAILURES_QUEUE_URL",
    ],
    grants: [
      // Lambda's on-failure messages carry only a stream range: the records are read back.
      { kind: "tableStream" },
      // The projector writes trust back onto profiles.
      { kind: "table", access: "readWrite" },
      ...governanceSecrets,
      { kind: "streamFailures", of: "projector", access: "consume" },
    ],
    trigger: {
      kind: "invoke",
      description:
        "aws lambda invoke --function-name <GovernanceReplayFunctionName> --payload '{\"limit\":10}'",
    },
    postgres: true,
  },
  {
    id: "health-prober",
    entry: "functions/governance/health-prober.handler.ts",
    description: "Every 5 minutes: probe agents' endpoints, record health, update trust",
    timeoutSeconds: 120,
    memoryMb: 512,
    environment: ["TABLE_NAME", "DATABASE_URL_SECRET_ARN", "AUDIT_HMAC_KEY_ARN"],
    grants: [
      { kind: "table", access: "readWrite" },
      ...governanceSecrets,
      { kind: "agentQueues", actions: ["sqs:GetQueueAttributes"] },
    ],
    trigger: { kind: "schedule", expression: "rate(5 minutes)", description: "Probe agents' endpoints" },
    postgres: true,
  },
  {
    id: "escrow-sweeper",
    entry: "functions/governance/escrow-sweeper.handler.ts",
    description: "Hourly: refund escrows pending past ESCROW_TIMEOUT_HOURS",
    timeoutSeconds: 120,
    memoryMb: 512,
    environment: ["DATABASE_URL_SECRET_ARN", "AUDIT_HMAC_KEY_ARN", "ESCROW_TIMEOUT_HOURS"],
    grants: [...governanceSecrets],
    trigger: { kind: "schedule", expression: "rate(1 hour)", description: "Refund timed-out escrows" },
    postgres: true,
  },
  {
    id: "audit-verify",
    entry: "functions/governance/audit-verify.handler.ts",
    description:
      "Daily (and on demand): walk the audit log's hash chain and check it against the newest anchor",
    timeoutSeconds: 300,
    memoryMb: 512,
    environment: [
      "DATABASE_URL_SECRET_ARN",
      "AUDIT_HMAC_KEY_ARN",
      "AUDIT_ANCHOR_KMS_KEY_ID",
      "AUDIT_ANCHOR_BUCKET",
      "AUDIT_ANCHOR_MIN_INTERVAL_SECONDS",
    ],
    grants: [
      ...governanceSecrets,
      // Verifies against the newest anchor, then anchors an intact chain.
      { kind: "auditAnchorKey", actions: ["kms:Sign", "kms:GetPublicKey"] },
      { kind: "auditAnchorBucket", actions: ["s3:PutObject", "s3:GetObject", "s3:ListBucket"] },
    ],
    trigger: { kind: "schedule", expression: "rate(1 day)", description: "Verify the audit hash chain" },
    postgres: true,
  },
];

/**
 * Handlers in `functions/` that are deliberately not deployed, with the reason. Every other
 * `*.handler.ts` must appear in {@link FUNCTIONS}.
 */
export const UNDEPLOYED_HANDLERS: Readonly<Record<string, string>> = {};

/** SQS visibility timeout must be at least this many times the consumer's timeout (AWS guidance). */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

/** The function with this id; throws for an unknown id. */
export function functionById(id: string): FunctionSpec {
  const spec = FUNCTIONS.find((f) => f.id === id);
  if (!spec) throw new Error(`No function "${id}" in the topology`);
  return spec;
}

/** The function consuming a queue, with its trigger. Every queue has exactly one. */
export function queueConsumer(queue: QueueName): { fn: FunctionSpec; trigger: QueueTrigger } {
  const consumers = FUNCTIONS.flatMap((fn) =>
    fn.trigger.kind === "queue" && fn.trigger.queue === queue ? [{ fn, trigger: fn.trigger }] : [],
  );
  const [only] = consumers;
  if (!only || consumers.length > 1) {
    throw new Error(`Queue "${queue}" must have exactly one consumer, has ${consumers.length}`);
  }
  return only;
}

/**
 * The queue's visibility timeout: six times the consumer's timeout plus its batching window, so a
 * message is never redelivered while an invocation (or Lambda's retry of a throttled one) holds it.
 */
export function visibilityTimeoutSeconds(queue: QueueName): number {
  const { fn, trigger } = queueConsumer(queue);
  return VISIBILITY_TIMEOUT_FACTOR * fn.timeoutSeconds + trigger.maxBatchingWindowSeconds;
}

/** Functions with a stream trigger, with it. */
export function streamConsumers(): Array<{ fn: FunctionSpec; trigger: StreamTrigger }> {
  return FUNCTIONS.flatMap((fn) => (fn.trigger.kind === "stream" ? [{ fn, trigger: fn.trigger }] : []));
}

/** Every schedule: which function runs on which expression. */
export function schedules(): Array<{ fn: FunctionSpec; trigger: ScheduleTrigger }> {
  return FUNCTIONS.flatMap((fn) => (fn.trigger.kind === "schedule" ? [{ fn, trigger: fn.trigger }] : []));
}

/** Functions with no event source, invoked by operators. */
export function invokeOnly(): Array<{ fn: FunctionSpec; trigger: InvokeTrigger }> {
  return FUNCTIONS.flatMap((fn) => (fn.trigger.kind === "invoke" ? [{ fn, trigger: fn.trigger }] : []));
}

/** Every HTTP route, with the function serving it. */
export function httpRoutes(): Array<{ fn: FunctionSpec; route: HttpRoute }> {
  return FUNCTIONS.flatMap((fn) =>
    fn.trigger.kind === "http" ? fn.trigger.routes.map((route) => ({ fn, route })) : [],
  );
}

/** The secrets a function reads. */
export function secretsOf(fn: FunctionSpec): SecretName[] {
  return fn.grants.flatMap((g) => (g.kind === "secretRead" ? [g.secret] : []));
}

type PatternNode = { readonly [key: string]: readonly string[] | PatternNode | undefined };

function matchesPattern(pattern: PatternNode, value: unknown): boolean {
  for (const [key, rule] of Object.entries(pattern)) {
    if (rule === undefined) continue;
    const field =
      typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(rule)) {
      if (typeof field !== "string" || !rule.includes(field)) return false;
    } else if (!matchesPattern(rule as PatternNode, field)) {
      return false;
    }
  }
  return true;
}

/**
 * Lambda's filter criteria for the exact-value patterns used here: a record passes when it matches
 * any pattern (every key of a pattern, one of the listed values). The local stream source uses it as
 * its `filter`, so local runs see the same records as the deployed function.
 */
export function matchesStreamFilters(
  filters: readonly StreamFilterPattern[],
  record: DynamoDBRecord,
): boolean {
  if (filters.length === 0) return true;
  return filters.some((pattern) => matchesPattern(pattern as PatternNode, record));
}

/**
 * Consistency problems in the declaration (empty when sound): every queue has one consumer; every
 * secret a function reads has its variable and vice versa; every queue a function sends to has its
 * URL variable; the bid-secret key's variable exactly where its grant is; stream triggers only on
 * functions allowed to read the stream.
 */
export function topologyProblems(functions: readonly FunctionSpec[] = FUNCTIONS): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const fn of functions) {
    if (ids.has(fn.id)) problems.push(`duplicate function id ${fn.id}`);
    ids.add(fn.id);
    const env = new Set(fn.environment);
    for (const grant of fn.grants) {
      if (grant.kind === "secretRead" && !env.has(SECRETS[grant.secret].envKey)) {
        problems.push(`${fn.id} reads ${grant.secret} but lacks ${SECRETS[grant.secret].envKey}`);
      }
      if (grant.kind === "queueSend" && !env.has(QUEUES[grant.queue].envKey)) {
        problems.push(`${fn.id} sends to ${grant.queue} but lacks ${QUEUES[grant.queue].envKey}`);
      }
      if (grant.kind === "streamFailures") {
        if (!env.has("PROJECTOR_FAILURES_QUEUE_URL")) {
          problems.push(`${fn.id} uses ${grant.of}'s failure queue but lacks PROJECTOR_FAILURES_QUEUE_URL`);
        }
        const owner = functions.find((f) => f.id === grant.of);
        if (owner?.trigger.kind !== "stream") {
          problems.push(`${fn.id} uses the failure queue of ${grant.of}, which is not a stream consumer`);
        }
      }
    }
    const usesBidSecretKey = fn.grants.some((g) => g.kind === "bidSecretKey");
    if (usesBidSecretKey !== env.has("BID_SECRET_KMS_KEY_ID")) {
      problems.push(
        usesBidSecretKey
          ? `${fn.id} may use the bid-secret key but lacks BID_SECRET_KMS_KEY_ID`
          : `${fn.id} names BID_SECRET_KMS_KEY_ID without being allowed to use the key`,
      );
    }
    for (const [kind, envKey] of [
      ["auditAnchorKey", "AUDIT_ANCHOR_KMS_KEY_ID"],
      ["auditAnchorBucket", "AUDIT_ANCHOR_BUCKET"],
    ] as const) {
      const granted = fn.grants.some((g) => g.kind === kind);
      if (granted !== env.has(envKey)) {
        problems.push(
          granted
            ? `${fn.id} may use the ${kind} but lacks ${envKey}`
            : `${fn.id} names ${envKey} without the ${kind} grant`,
        );
      }
    }
    for (const [name, secret] of Object.entries(SECRETS)) {
      if (env.has(secret.envKey) && !secretsOf(fn).includes(name as SecretName)) {
        problems.push(`${fn.id} names ${secret.envKey} without being allowed to read it`);
      }
    }
    const { trigger } = fn;
    if (trigger.kind === "stream" && !fn.grants.some((g) => g.kind === "tableStream")) {
      problems.push(`${fn.id} is triggered by the stream without the tableStream grant`);
    }
    if (
      trigger.kind === "queue" &&
      !fn.grants.some((g) => g.kind === "queueConsume" && g.queue === trigger.queue)
    ) {
      problems.push(`${fn.id} is triggered by ${trigger.queue} without consuming it`);
    }
  }
  for (const queue of Object.keys(QUEUES) as QueueName[]) {
    const consumers = functions.filter((f) => f.trigger.kind === "queue" && f.trigger.queue === queue);
    if (consumers.length !== 1) problems.push(`queue ${queue} has ${consumers.length} consumers`);
  }
  return problems;
}
