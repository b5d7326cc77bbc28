import type { AuditKey } from "../../domain/governance/audit-chain.js";
import type { GovernanceStore } from "../../ports/governance-store.js";
import { createPostgresGovernanceStore } from "./governance.store.js";
import { migrate } from "./migrations.js";
import { createPgClient } from "./pg.client.js";
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
  now?: () => Date;
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
