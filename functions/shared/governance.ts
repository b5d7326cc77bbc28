import { join } from "node:path";
import type { Logger } from "@aws-lambda-powertools/logger";
import {
  type AuditAnchorSource,
  openAnchorSigner,
  openAnchorStore,
  openAnchorVerifier,
} from "../../src/adapters/anchors/open-audit-anchors.js";
import { createStreamRecordReader } from "../../src/adapters/dynamo/stream-reader.js";
import { resolveDatabaseMigrationUrl, resolveDatabaseUrl } from "../../src/adapters/postgres/database-url.js";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { pgFailureClass } from "../../src/adapters/postgres/pg-errors.js";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import { createSqsProjectionFailureQueue } from "../../src/adapters/sqs/projection-failure-queue.js";
import type { Config } from "../../src/config.js";
import { createAuditAnchoring } from "../../src/domain/governance/audit-anchoring.js";
import { classifyProjectionError } from "../../src/domain/governance/projection-failure.js";
import type { GovernanceProjector } from "../../src/domain/governance/projector.js";
import { createReplayService } from "../../src/domain/governance/replay.js";
import { lazily } from "../../src/lib/lazy.js";
import { shareEmbeddedStore } from "../../src/local/embedded-governance.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { eventsOfRecord } from "../../src/workers/governance-stream.js";
import type { Core } from "./core.js";

/**
 * The governance store and what several governance builders share. Only builders of functions that
 * use Postgres import this module.
 */

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
  const databaseUrl = await resolveDatabaseUrl(config);
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

/** Anchoring and anchored verification of the audit chain over one store; key and bucket opened on first use. */
export function buildAuditAnchoring(config: Config, store: GovernanceStore) {
  const source = auditAnchorSource(config);
  const anchors = lazily(() => openAnchorStore(source));
  return createAuditAnchoring({
    store,
    anchors: {
      location: source.bucket
        ? `s3://${source.bucket}/anchors/`
        : source.dataDir
          ? join(source.dataDir, "audit-anchors")
          : "memory",
      put: async (anchor) => (await anchors()).put(anchor),
      latest: async () => (await anchors()).latest(),
    },
    signer: lazily(() => openAnchorSigner(source)),
    verifier: lazily(() => openAnchorVerifier(source)),
    minIntervalMs: config.auditAnchor.minIntervalSeconds * 1000,
  });
}

/** Permanent or transient, for the projector and the replay: domain errors first, then Postgres's SQLSTATEs. */
export const classifyGovernanceError = (error: unknown) => classifyProjectionError(error, [pgFailureClass]);

/** The projector's failure store (its stream failure queue), when configured. */
export function projectorFailures(core: Core) {
  const queueUrl = core.config.projectorFailuresQueueUrl;
  if (!queueUrl) return undefined;
  return createSqsProjectionFailureQueue({ client: core.sqs(), queueUrl });
}

/**
 * Replay of the projector's failure store: Lambda's on-failure messages are read back from the table
 * stream. Undefined without PROJECTOR_FAILURES_QUEUE_URL.
 */
export async function buildReplayService(
  core: Core,
  services: { store: GovernanceStore; projector: GovernanceProjector },
  logger: Logger,
) {
  const failures = projectorFailures(core);
  if (!failures) return undefined;
  const { config } = core;
  // The streams client only where replay runs (the replay function, or the local REST API).
  const { DynamoDBStreamsClient } = await import("@aws-sdk/client-dynamodb-streams");
  const streams = new DynamoDBStreamsClient({
    region: config.region,
    ...(config.dynamoEndpoint
      ? { endpoint: config.dynamoEndpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } }
      : {}),
  });
  return createReplayService({
    failures,
    stream: createStreamRecordReader(streams),
    projector: services.projector,
    store: services.store,
    eventsOf: eventsOfRecord,
    classify: classifyGovernanceError,
    logger,
  });
}
