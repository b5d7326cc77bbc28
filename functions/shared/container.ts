import { join } from "node:path";
import type { Logger } from "@aws-lambda-powertools/logger";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import {
  type AuditAnchorSource,
  forgetMemoryAnchors,
  openAnchorSigner,
  openAnchorStore,
  openAnchorVerifier,
} from "../../src/adapters/anchors/open-audit-anchors.js";
import { deferredCipher, sharedBidSecretCipher } from "../../src/adapters/crypto/bid-secret-cipher.js";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createMarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createNonceRepository } from "../../src/adapters/dynamo/nonce.repository.js";
import { createStreamRecordReader } from "../../src/adapters/dynamo/stream-reader.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import { createEndpointProber } from "../../src/adapters/endpoints/endpoint-prober.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { pgFailureClass } from "../../src/adapters/postgres/pg-errors.js";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { createSqsIntakeQueue } from "../../src/adapters/sqs/intake-queue.js";
import { createSqsProjectionFailureQueue } from "../../src/adapters/sqs/projection-failure-queue.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createAgentService } from "../../src/domain/agents/agent.service.js";
import { createAwardService } from "../../src/domain/bidding/award.service.js";
import { createBidService } from "../../src/domain/bidding/bid.service.js";
import { createDispatchService } from "../../src/domain/bidding/dispatch.service.js";
import { createApprovalService } from "../../src/domain/governance/approval.service.js";
import { createApprovalPolicy } from "../../src/domain/governance/approval-policy.js";
import { type AuditVerifyMode, createAuditAnchoring } from "../../src/domain/governance/audit-anchoring.js";
import { createEscrowService } from "../../src/domain/governance/escrow.service.js";
import { createHealthService } from "../../src/domain/governance/health.service.js";
import { classifyProjectionError } from "../../src/domain/governance/projection-failure.js";
import {
  createGovernanceProjector,
  type GovernanceProjector,
} from "../../src/domain/governance/projector.js";
import { createReplayService } from "../../src/domain/governance/replay.js";
import { createLedgerService } from "../../src/domain/ledger/ledger.service.js";
import { createTaskService } from "../../src/domain/tasks/task.service.js";
import { createWebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { createRestApi } from "../../src/http/rest-api.js";
import { createWebhookReceiver, type WebhookReceiver } from "../../src/http/webhook-receiver.js";
import { createObservability } from "../../src/observability.js";
import type { AwardTrigger } from "../../src/ports/award-trigger.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { createAwardSweeper } from "../../src/workers/award-sweeper.js";
import { createBidBatchHandler } from "../../src/workers/bid-worker.js";
import {
  createDispatchQueueBatchHandler,
  createTaskStreamEnqueuer,
} from "../../src/workers/dispatch-queue.js";
import { createDispatchStreamHandler } from "../../src/workers/dispatch-stream.js";
import { createGovernanceStreamHandler, eventsOfRecord } from "../../src/workers/governance-stream.js";
import { createIntakeBatchHandler } from "../../src/workers/intake-worker.js";
import { buildAuthenticator } from "./authentication.js";

/**
 * The composition root: the only place that turns configuration into clients, repositories and
 * services. Each Lambda builds what it needs once per container (SDK clients at container scope);
 * tests and the local stack call the same builders with local endpoints.
 */

/** SDK clients and repositories over the marketplace table, created once per container. */
export function buildRepositories(config: Config) {
  const client = createDocumentClient(
    createDynamoClient({
      region: config.region,
      requireLocal: config.local,
      ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
    }),
  );
  const service = createMarketplaceService({ client, table: config.tableName });
  return {
    // Built on first use, so functions that never touch bid secrets need no key (see requireBidSecretKey).
    agents: createAgentRepository({ service, secrets: deferredCipher(() => sharedBidSecretCipher(config)) }),
    tasks: createTaskRepository({ service }),
    bidding: createBiddingRepository({ service }),
    nonces: createNonceRepository({ service }),
    webhookState: createWebhookStateRepository({ service, deliveryTtlSeconds: config.deliveryTtlSeconds }),
  };
}

function sqsClient(config: Config) {
  return createSqsClient({
    region: config.region,
    requireLocal: config.local,
    ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
  });
}

/** Routes marketplace messages to agents: SQS queues, and SSRF-guarded signed HTTPS (loopback only locally). */
function endpointSender(config: Config) {
  return createEndpointSender({
    sqs: createSqsEndpointSender({
      client: sqsClient(config),
      // Agents' queues may live in any region; locally everything goes to the emulator.
      ...(config.sqsEndpoint ? {} : { clientForRegion: (region: string) => createSqsClient({ region }) }),
    }),
    https: createHttpsEndpointSender({ allowLoopback: config.local }),
  });
}

/**
 * Functions that sign or verify agent messages build the bid-secret cipher at cold start, so a
 * missing or unreadable key (BID_SECRET_KMS_KEY_ID / BID_SECRET_KEY_FILE) fails loudly there.
 */
function requireBidSecretKey(config: Config): void {
  sharedBidSecretCipher(config);
}

function requireBidsQueue(config: Config): string {
  // Missing configuration fails the cold start loudly rather than every record.
  if (!config.bidsQueueUrl) throw new Error("BIDS_QUEUE_URL is not configured");
  return config.bidsQueueUrl;
}

/** Domain services over the marketplace table. */
export function buildMarketplaceServices(config: Config) {
  const repositories = buildRepositories(config);
  return {
    repositories,
    agents: createAgentService({
      agents: repositories.agents,
      apiKeyOverlapSeconds: config.apiKeyOverlapSeconds,
      secretRotationOverlapSeconds: config.secretRotationOverlapSeconds,
      endpointPolicy: {
        allowLoopback: config.local,
        forbiddenAccountIds: config.marketplaceAccountId ? [config.marketplaceAccountId] : [],
      },
    }),
    tasks: createTaskService({ tasks: repositories.tasks }),
    ledger: createLedgerService({ tasks: repositories.tasks }),
    webhooks: createWebhookService({
      tasks: repositories.tasks,
      state: repositories.webhookState,
      marketplaceLabel: config.marketplaceLabel,
      humanInterventionLabel: config.humanInterventionLabel,
      bidWindowSeconds: config.bidWindowSeconds,
      ...(config.allowedRepositories ? { allowedRepositories: config.allowedRepositories } : {}),
      ...(config.trustedCheckApps ? { trustedCheckApps: config.trustedCheckApps } : {}),
    }),
  };
}

/** The award service; the bid worker uses it for early awards and the sweeper at deadlines. */
export function buildAwardService(config: Config, logger: Logger) {
  requireBidSecretKey(config);
  const repositories = buildRepositories(config);
  return createAwardService({
    tasks: repositories.tasks,
    bidding: repositories.bidding,
    agents: repositories.agents,
    sender: endpointSender(config),
    bidsQueueUrl: requireBidsQueue(config),
    approval: createApprovalPolicy(
      config.approvalThreshold !== undefined ? { threshold: config.approvalThreshold } : {},
    ),
    logger,
  });
}

/**
 * A `DATABASE_URL` secret is either the URL itself or the JSON an RDS-managed secret holds
 * (`username`, `password`, `host`, `port`, `dbname`).
 */
export function databaseUrlFromSecret(value: string): string {
  const trimmed = value.trim();
  if (!trimmed.startsWith("{")) return trimmed;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(trimmed) as Record<string, unknown>;
  } catch {
    throw new Error("The DATABASE_URL secret looks like JSON but does not parse");
  }
  const { username, password, host, port, dbname } = parsed;
  if (typeof username !== "string" || typeof password !== "string" || typeof host !== "string") {
    throw new Error("The DATABASE_URL secret JSON needs username, password and host");
  }
  // Built as text: the WHATWG URL setters leave '%' unencoded, which would corrupt such a password.
  const portPart = port === undefined ? "" : `:${encodeURIComponent(String(port))}`;
  const database = encodeURIComponent(typeof dbname === "string" ? dbname : "postgres");
  return `postgres://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${host}${portPart}/${database}?sslmode=require`;
}

/**
 * Opens the governance store: `pg` when DATABASE_URL (or its secret) is configured, else embedded
 * PGlite — persisted in `<AGENTFORGE_DATA_DIR>/pglite`, or in memory. On AWS a server is required:
 * PGlite in a Lambda's /tmp would lose the audit log with the container.
 */
export async function openGovernance(config: Config): Promise<GovernanceStore> {
  if (!config.auditKey) throw new Error("AUDIT_HMAC_KEY or AUDIT_HMAC_KEY_ARN must be configured");
  const auditKey = await createSecretResolver({
    name: "audit HMAC key",
    source: config.auditKey,
    region: config.region,
  })();
  if (!config.databaseUrl && !config.local) {
    throw new Error("DATABASE_URL or DATABASE_URL_SECRET_ARN must be configured outside the local stack");
  }
  const databaseUrl = config.databaseUrl
    ? databaseUrlFromSecret(
        await createSecretResolver({
          name: "DATABASE_URL",
          source: config.databaseUrl,
          region: config.region,
        })(),
      )
    : undefined;
  if (databaseUrl) {
    const migrationUrl = await resolveDatabaseMigrationUrl(config);
    return openGovernanceStore({
      auditKey,
      databaseUrl,
      ...(migrationUrl ? { migrationUrl } : {}),
      pool: config.databasePool,
    });
  }
  const dataDir = config.dataDir ? join(config.dataDir, "pglite") : undefined;
  return shareEmbeddedStore(dataDir ?? ":memory:", () =>
    openGovernanceStore({ auditKey, ...(dataDir ? { dataDir } : {}) }),
  );
}

/**
 * The owner connection for migrations (DATABASE_MIGRATION_URL or its secret, a URL or an RDS
 * secret's JSON), or undefined in a single-role setup.
 */
export async function resolveDatabaseMigrationUrl(config: Config): Promise<string | undefined> {
  if (!config.databaseMigrationUrl) return undefined;
  return databaseUrlFromSecret(
    await createSecretResolver({
      name: "DATABASE_MIGRATION_URL",
      source: config.databaseMigrationUrl,
      region: config.region,
    })(),
  );
}

/**
 * Embedded PGlite databases open in this process, one per directory (or memory). On AWS every
 * function has its own container, but the local stack runs them all in one process: two PGlite
 * instances on one directory would corrupt it, and two in memory would be two different databases.
 * Each caller gets a handle whose `close()` releases it; the database closes with its last handle.
 */
const embeddedStores = new Map<string, { store: Promise<GovernanceStore>; handles: number }>();

async function shareEmbeddedStore(
  key: string,
  open: () => Promise<GovernanceStore>,
): Promise<GovernanceStore> {
  let entry = embeddedStores.get(key);
  if (!entry) {
    const opened = { store: open(), handles: 0 };
    embeddedStores.set(key, opened);
    opened.store.catch(() => {
      if (embeddedStores.get(key) === opened) embeddedStores.delete(key);
    });
    entry = opened;
  }
  const shared = entry;
  shared.handles += 1;
  let store: GovernanceStore;
  try {
    store = await shared.store;
  } catch (error) {
    shared.handles -= 1;
    throw error;
  }
  let released = false;
  return {
    ...store,
    close: async () => {
      if (released) return;
      released = true;
      shared.handles -= 1;
      if (shared.handles > 0) return;
      if (embeddedStores.get(key) === shared) embeddedStores.delete(key);
      // In-memory anchors belong to the in-memory database: a new one starts without them.
      if (key === ":memory:") forgetMemoryAnchors();
      await store.close();
    },
  };
}

/**
 * Closes every embedded database of this process whatever handles remain (functions keep theirs for
 * the container's life): the local stack's shutdown, so PGlite flushes to disk before the exit.
 */
export async function closeEmbeddedGovernanceStores(): Promise<void> {
  const entries = [...embeddedStores.values()];
  embeddedStores.clear();
  forgetMemoryAnchors();
  await Promise.all(
    entries.map(async (entry) => {
      const store = await entry.store.catch(() => undefined);
      await store?.close();
    }),
  );
}

/**
 * Where this configuration's audit anchors are (see src/adapters/anchors/open-audit-anchors.ts). In
 * memory they belong to one database: the in-memory PGlite, or the configured server.
 */
export function auditAnchorSource(config: Config): AuditAnchorSource {
  return {
    ...config.auditAnchor,
    ...(config.dataDir ? { dataDir: config.dataDir } : {}),
    local: config.local,
    region: config.region,
    memoryKey: config.databaseUrl ? `server:${JSON.stringify(config.databaseUrl)}` : ":memory:",
  };
}

/** Anchoring and anchored verification of the audit chain over one store. */
export function buildAuditAnchoring(config: Config, store: GovernanceStore) {
  const source = auditAnchorSource(config);
  const anchors = lazily(() => openAnchorStore(source));
  const lazyStore = {
    location: source.bucket
      ? `s3://${source.bucket}/anchors/`
      : source.dataDir
        ? join(source.dataDir, "audit-anchors")
        : "memory",
    put: async (anchor: Parameters<Awaited<ReturnType<typeof openAnchorStore>>["put"]>[0]) =>
      (await anchors()).put(anchor),
    latest: async () => (await anchors()).latest(),
  };
  return createAuditAnchoring({
    store,
    anchors: lazyStore,
    signer: lazily(() => openAnchorSigner(source)),
    verifier: lazily(() => openAnchorVerifier(source)),
    minIntervalMs: config.auditAnchor.minIntervalSeconds * 1000,
  });
}

/** Governance services over one store (opened by the caller). */
export function buildGovernanceServices(config: Config, store: GovernanceStore, logger: Logger) {
  // DynamoDB clients only for the services that use them: audit verify and the escrow sweeper need
  // Postgres alone.
  const repositories = lazySync(() => buildRepositories(config));
  const escrows = createEscrowService({ store, timeoutMs: config.escrowTimeoutMs, logger });
  const anchoring = lazySync(() => buildAuditAnchoring(config, store));
  return {
    store,
    escrows,
    /** Signed checkpoints of the audit chain outside the database, and verification against them. */
    anchoring,
    projector: () => createGovernanceProjector({ store, agents: repositories().agents, logger }),
    /** Approvals need the award service (re-award on rejection, notices on approval). */
    approvals: () =>
      createApprovalService({
        store,
        tasks: repositories().tasks,
        awards: buildAwardService(config, logger),
        logger,
      }),
    health: () =>
      createHealthService({
        store,
        agents: repositories().agents,
        logger,
        prober: createEndpointProber({
          allowLoopback: config.local,
          sqsClient: sqsClient(config),
          ...(config.sqsEndpoint ? {} : { sqsClientFor: (region: string) => createSqsClient({ region }) }),
        }),
      }),
  };
}

function lazySync<T>(build: () => T): () => T {
  let value: { built: T } | undefined;
  return () => {
    value ??= { built: build() };
    return value.built;
  };
}

/**
 * The governance projector on the table stream. The store is opened on the first batch, not at cold
 * start, and a failed open is retried by the next batch: while Postgres is down the stream waits (the
 * event source retries from the failed record) and bidding carries on.
 */
export function buildProjector(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "governance-projector" } });
  const open = lazily(async () => buildGovernanceServices(config, await openGovernance(config), logger));
  const opened = lazily(async () => (await open()).projector());
  const projector: GovernanceProjector = {
    apply: async (event) => (await opened()).apply(event),
    skip: async (skipped) => (await opened()).skip(skipped),
  };
  return {
    logger,
    handle: createGovernanceStreamHandler({
      projector,
      logger,
      metrics,
      // Records failing for a permanent reason are set aside there, so the stream moves on.
      ...(() => {
        const failures = projectorFailures(config);
        return failures ? { failures } : {};
      })(),
      classify: classifyGovernanceError,
      // A signed checkpoint of the chain head after every batch that applied something (at most one
      // per AUDIT_ANCHOR_MIN_INTERVAL_SECONDS); a failure is logged and counted, never fails the batch.
      afterBatch: async () => {
        await (await open()).anchoring().anchor();
      },
    }),
  };
}

/** Permanent or transient, for the projector and the replay: domain errors first, then Postgres's SQLSTATEs. */
export const classifyGovernanceError = (error: unknown) => classifyProjectionError(error, [pgFailureClass]);

/** The projector's failure store (its stream failure queue), when configured. */
function projectorFailures(config: Config) {
  if (!config.projectorFailuresQueueUrl) return undefined;
  return createSqsProjectionFailureQueue({
    client: sqsClient(config),
    queueUrl: config.projectorFailuresQueueUrl,
  });
}

/**
 * Replay of the projector's failure store over opened governance services: Lambda's on-failure
 * messages are read back from the table stream. Undefined without PROJECTOR_FAILURES_QUEUE_URL.
 */
export function buildReplayService(
  config: Config,
  services: Pick<ReturnType<typeof buildGovernanceServices>, "store" | "projector">,
  logger: Logger,
) {
  const failures = projectorFailures(config);
  if (!failures) return undefined;
  const streams = new DynamoDBStreamsClient({
    region: config.region,
    ...(config.dynamoEndpoint
      ? { endpoint: config.dynamoEndpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } }
      : {}),
  });
  return createReplayService({
    failures,
    stream: createStreamRecordReader(streams),
    projector: services.projector(),
    store: services.store,
    eventsOf: eventsOfRecord,
    classify: classifyGovernanceError,
    logger,
  });
}

/** The on-demand replay function: the projector's failed records, once their cause is fixed. */
export function buildGovernanceReplay(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "governance-replay" } });
  const open = lazily(async () => {
    const replay = buildReplayService(
      config,
      buildGovernanceServices(config, await openGovernance(config), logger),
      logger,
    );
    if (!replay) throw new Error("PROJECTOR_FAILURES_QUEUE_URL is not configured");
    return replay;
  });
  return { logger, replay: async (input: { actor: string; limit?: number }) => (await open()).replay(input) };
}

/** Scheduled jobs on the governance store: health probes, the escrow timeout sweeper, audit verify. */
export function buildGovernanceJobs(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "governance-jobs" } });
  const open = lazily(async () => buildGovernanceServices(config, await openGovernance(config), logger));
  return {
    logger,
    probeHealth: async (hasTime?: () => boolean) =>
      (await open()).health().probeAll(hasTime ? { hasTime } : {}),
    refundExpiredEscrows: async () => (await open()).escrows.refundExpired(),
    /**
     * The whole chain from seq 1 without a time budget, checked against the newest anchor
     * (`incremental`: only from that anchor on); an intact chain is then anchored, as a writer.
     */
    verifyAudit: async (mode: Extract<AuditVerifyMode, "full" | "incremental"> = "full") => {
      const { anchoring } = await open();
      const result = await anchoring().verify({ mode });
      if (result.ok && result.complete) {
        // The verdict stands either way; a failed anchor is an error for the alarm, not a failed walk.
        await anchoring()
          .anchor()
          .catch((error: unknown) => logger.error("Audit anchor not written", { error }));
      }
      return result;
    },
    /** Closes the store (for one-shot commands; a Lambda keeps it for the container's life). */
    close: async () => (await open()).store.close(),
  };
}

/** The dispatch service: sends each new task's bid requests to the capable agents. */
function buildDispatchService(config: Config) {
  requireBidSecretKey(config);
  const repositories = buildRepositories(config);
  return createDispatchService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    tasks: repositories.tasks,
    sender: endpointSender(config),
    bidsQueueUrl: requireBidsQueue(config),
  });
}

/**
 * Table stream consumer that dispatches each new task directly. Not deployed (see `src/topology.ts`:
 * the stream feeds the dispatch queue instead); kept for tests that drive dispatch from a stream batch.
 */
export function buildDispatcher(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "dispatcher" } });
  const dispatcher = buildDispatchService(config);
  return { logger, handle: createDispatchStreamHandler({ dispatcher, logger, metrics }) };
}

/** Table stream consumer: new TASK items → `{ task_id }` messages on the dispatch queue. */
export function buildTaskStreamEnqueuer(config: Config, queueUrl = config.dispatchQueueUrl) {
  // Missing configuration fails the cold start loudly rather than every batch.
  if (!queueUrl) throw new Error("DISPATCH_QUEUE_URL is not configured");
  const { logger, metrics } = createObservability({ persistentKeys: { function: "task-stream" } });
  return {
    logger,
    handle: createTaskStreamEnqueuer({ client: sqsClient(config), queueUrl, logger, metrics }),
  };
}

/** Dispatch queue consumer: sends each task's bid requests; a failed task is retried alone, then DLQ'd. */
export function buildDispatchWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "dispatch-worker" } });
  const dispatcher = buildDispatchService(config);
  return { logger, handle: createDispatchQueueBatchHandler({ dispatcher, logger, metrics }) };
}

/**
 * The bids queue's batch handler. `awards` defaults to the award service, which awards a task as
 * soon as every invited agent has answered; the sweeper awards the rest at their deadlines.
 */
export function buildBidWorker(config: Config, awards?: AwardTrigger) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "bid-worker" } });
  requireBidSecretKey(config);
  const repositories = buildRepositories(config);
  const bids = createBidService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    nonces: repositories.nonces,
    awards: awards ?? buildAwardService(config, logger),
    maxSkewSeconds: config.messageMaxSkewSeconds,
  });
  return { logger, handle: createBidBatchHandler({ bids, logger, metrics }) };
}

/** The every-minute award sweeper. */
export function buildAwardSweeper(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "award-sweeper" } });
  const awards = buildAwardService(config, logger);
  return { logger, sweep: createAwardSweeper({ awards, logger, metrics }) };
}

export type MarketplaceServices = ReturnType<typeof buildMarketplaceServices>;

/** Everything the webhook receiver's handler needs. */
export interface ReceiverDeps {
  receive: WebhookReceiver["receive"];
}

/**
 * Wires the receiver. The secret is not read here but on the first signed request (and then
 * cached), so a Secrets Manager hiccup answers 503 instead of failing the cold start.
 */
export function buildReceiverDeps(config: Config): ReceiverDeps {
  // Missing configuration fails the cold start loudly (Lambda error metric) rather than every request.
  if (!config.intakeQueueUrl) throw new Error("INTAKE_QUEUE_URL is not configured");
  if (!config.webhookSecret) {
    throw new Error("GITHUB_WEBHOOK_SECRET or GITHUB_WEBHOOK_SECRET_ARN must be configured");
  }
  const { logger, metrics } = createObservability({ persistentKeys: { function: "webhook-receiver" } });
  const client = sqsClient(config);
  const receiver = createWebhookReceiver({
    secret: createSecretResolver({
      name: "GitHub webhook secret",
      source: config.webhookSecret,
      region: config.region,
    }),
    queue: createSqsIntakeQueue({ client, queueUrl: config.intakeQueueUrl }),
    maxBodyBytes: config.webhookMaxBodyBytes,
    logger,
    metrics,
  });
  return { receive: (event, context) => receiver.receive(event, context) };
}

/** The intake queue's batch handler over the marketplace services. */
export function buildIntakeWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "intake-worker" } });
  const { webhooks } = buildMarketplaceServices(config);
  return { logger, handle: createIntakeBatchHandler({ webhooks, logger, metrics }) };
}

/** The REST API for operators and agents over the marketplace services. */
export function buildRestApi(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "rest-api" } });
  requireBidSecretKey(config);
  const { agents, tasks, ledger, repositories } = buildMarketplaceServices(config);
  const governance = lazily(async () => {
    const services = buildGovernanceServices(config, await openGovernance(config), logger);
    return {
      approvals: services.approvals(),
      escrows: services.escrows,
      // Onward from the saved checkpoint (or from the newest anchor), and against that anchor.
      verifyAudit: (options?: { fromAnchor?: boolean }) =>
        services.anchoring().verify({ mode: options?.fromAnchor ? "incremental" : "checkpoint" }),
      // Only where the failure store is configured (locally; on AWS the governance-replay function).
      ...(() => {
        const replay = buildReplayService(config, services, logger);
        return replay ? { replay: replay.replay } : {};
      })(),
    };
  });
  const handle: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> = createRestApi(
    {
      agents,
      tasks,
      ledger,
      authenticate: buildAuthenticator(config, { apiKeys: repositories.agents, logger }).authenticate,
      logger,
      governance,
    },
  );
  return { logger, handle };
}

/** Caches a container-scoped build; a failed build is not cached, so the next invocation retries. */
export function lazily<T>(build: () => T | Promise<T>): () => Promise<T> {
  let cached: Promise<T> | undefined;
  return () => {
    cached ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        cached = undefined;
        throw error;
      });
    return cached;
  };
}

/** The receiver's dependencies, built on first use and cached for the container's life. */
export const getReceiverDeps = lazily(() => buildReceiverDeps(loadConfig()));
export const getIntakeWorker = lazily(() => buildIntakeWorker(loadConfig()));
export const getRestApi = lazily(() => buildRestApi(loadConfig()));
export const getDispatcher = lazily(() => buildDispatcher(loadConfig()));
export const getTaskStreamEnqueuer = lazily(() => buildTaskStreamEnqueuer(loadConfig()));
export const getDispatchWorker = lazily(() => buildDispatchWorker(loadConfig()));
export const getBidWorker = lazily(() => buildBidWorker(loadConfig()));
export const getAwardSweeper = lazily(() => buildAwardSweeper(loadConfig()));
export const getProjector = lazily(() => buildProjector(loadConfig()));
export const getGovernanceJobs = lazily(() => buildGovernanceJobs(loadConfig()));
export const getGovernanceReplay = lazily(() => buildGovernanceReplay(loadConfig()));
