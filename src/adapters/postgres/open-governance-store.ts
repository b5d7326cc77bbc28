import type { AuditKey } from "../../domain/governance/audit-chain.js";
import type { GovernanceStore } from "../../ports/governance-store.js";
import { createPostgresGovernanceStore } from "./governance.store.js";
import { migrate } from "./migrations.js";
import { createPgClient, type PgClientOptions } from "./pg.client.js";
import { createPgliteClient } from "./pglite.client.js";
import type { SqlClient } from "./sql-client.js";

export interface OpenGovernanceStoreOptions {
  /** A PostgreSQL server (`postgres://...`). When absent the store is an embedded PGlite. */
  databaseUrl?: string;
  /** PGlite only: keep the database in this directory (created if missing); in memory when absent. */
  dataDir?: string;
  auditKey: AuditKey;
  /** Server only: work in this schema (created if missing) instead of the user's default. */
  schema?: string;
  /** Server only: pool size and timeouts (see {@link pgPoolBounds}); the `pg` defaults when absent. */
  pool?: PgPoolBounds;
  now?: () => Date;
}

export interface PgPoolBounds {
  max: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

/** Extra time the client waits past the statement timeout for the server's own error. */
const QUERY_TIMEOUT_MARGIN_MS = 1000;

/**
 * The pool options for these bounds. The client-side query timeout sits just past the statement
 * timeout, so a slow statement fails with the server's 57014 and only a silent server trips the
 * client. A session idle inside a transaction (a client frozen or gone mid-transaction) is ended
 * after twice the statement timeout, releasing its locks.
 */
export function pgPoolBounds(bounds: PgPoolBounds): Partial<PgClientOptions> {
  return {
    max: bounds.max,
    connectionTimeoutMs: bounds.connectTimeoutMs,
    statementTimeoutMs: bounds.statementTimeoutMs,
    queryTimeoutMs: bounds.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS,
    idleInTransactionTimeoutMs: 2 * bounds.statementTimeoutMs,
  };
}

/**
 * The governance store for a configuration: a `pg` pool when `databaseUrl` is set, PGlite otherwise.
 * Applies pending migrations before returning. Closing the store closes its client.
 */
export async function openGovernanceStore(options: OpenGovernanceStoreOptions): Promise<GovernanceStore> {
  const client: SqlClient = options.databaseUrl
    ? createPgClient({
        connectionString: options.databaseUrl,
        ...(options.schema !== undefined ? { schema: options.schema } : {}),
        ...(options.pool ? pgPoolBounds(options.pool) : {}),
      })
    : await createPgliteClient(options.dataDir !== undefined ? { dataDir: options.dataDir } : {});
  try {
    await migrate(client);
    return createPostgresGovernanceStore({
      client,
      auditKey: options.auditKey,
      ...(options.now ? { now: options.now } : {}),
    });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
}
