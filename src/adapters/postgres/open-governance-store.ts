import { type AuditKey, type AuditKeyring, auditKeyring } from "../../domain/governance/audit-chain.js";
import type { GovernanceStore } from "../../ports/governance-store.js";
import { createPostgresGovernanceStore } from "./governance.store.js";
import { APP_ROLE, MigrationsPendingError, migrate, pendingMigrations, useAppRole } from "./migrations.js";
import { createPgClient, type PgClientOptions } from "./pg.client.js";
import { createPgliteClient } from "./pglite.client.js";
import { type SqlClient, sqlState } from "./sql-client.js";

export interface OpenGovernanceStoreOptions {
  /** A PostgreSQL server (`postgres://...`). When absent the store is an embedded PGlite. */
  databaseUrl?: string;
  /**
   * Server only: the owner role's connection. Migrations run through it (one short connection) and
   * `databaseUrl` (the app role) never runs DDL. Without it, `databaseUrl` migrates when a migration
   * is pending, and a warning says when it connects as the tables' owner (one role: weaker).
   */
  migrationUrl?: string;
  /** PGlite only: keep the database in this directory (created if missing); in memory when absent. */
  dataDir?: string;
  /** A plain key, a keyring, or a keyring's JSON text (see AuditKeyring in audit-chain.ts). */
  auditKey: AuditKey | AuditKeyring;
  /** Server only: work in this schema (created if missing) instead of the user's default. */
  schema?: string;
  /** Server only: pool size and timeouts (see {@link pgPoolBounds}); the `pg` defaults when absent. */
  pool?: PgPoolBounds;
  now?: () => Date;
  /** Where the single-role warning goes; `console.warn` when omitted. */
  warn?: (message: string) => void;
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
 * Brings the schema up to date before returning:
 * - server, `migrationUrl` set: migrates through it, then checks from the app connection that no
 *   migration is pending (the app connection runs no DDL);
 * - server, no `migrationUrl`: migrates on `databaseUrl` only if something is pending (a clear
 *   {@link MigrationsPendingError} if that role may not), and warns when it owns the tables;
 * - PGlite: migrates as its built-in superuser, then switches the session to the app role
 *   (`SET ROLE agentforge_app`) so its grants and row-level security bind the store.
 * Closing the store closes its client.
 */
export async function openGovernanceStore(options: OpenGovernanceStoreOptions): Promise<GovernanceStore> {
  // A malformed keyring fails here, before anything connects or migrates.
  const auditKey = auditKeyring(options.auditKey);
  const client: SqlClient = options.databaseUrl
    ? createPgClient({
        connectionString: options.databaseUrl,
        ...(options.schema !== undefined ? { schema: options.schema } : {}),
        ...(options.migrationUrl ? { createSchema: false } : {}),
        ...(options.pool ? pgPoolBounds(options.pool) : {}),
      })
    : await createPgliteClient(options.dataDir !== undefined ? { dataDir: options.dataDir } : {});
  try {
    if (client.kind === "pglite") {
      await migrate(client);
      await useAppRole(client);
    } else {
      await prepareServer(client, options);
    }
    return createPostgresGovernanceStore({
      client,
      auditKey,
      ...(options.now ? { now: options.now } : {}),
    });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
}

async function prepareServer(app: SqlClient, options: OpenGovernanceStoreOptions): Promise<void> {
  if (options.migrationUrl) {
    await migrateAsOwner(options.migrationUrl, options);
    const pending = await pendingMigrations(app);
    if (pending.length > 0) {
      throw new MigrationsPendingError(
        `The app connection (DATABASE_URL) does not see migrations ${pending.join(", ")} that ` +
          "DATABASE_MIGRATION_URL applied: both must name the same database and schema",
      );
    }
    return;
  }
  if ((await pendingMigrations(app)).length > 0) {
    try {
      await migrate(app);
    } catch (error) {
      // 42501: no CREATE on the schema; 3F000: no USAGE either, so it is not on the search path.
      const state = sqlState(error);
      if (state !== "42501" && state !== "3F000") throw error;
      throw new MigrationsPendingError(
        "The governance database has pending migrations and DATABASE_URL's role may not apply them: " +
          "run npm run db:migrate with DATABASE_MIGRATION_URL (the owner role), or set it for the app",
        { cause: error },
      );
    }
  }
  if (await ownsGovernanceTables(app)) {
    (options.warn ?? console.warn)(
      "Governance runs with one database role: DATABASE_URL owns the tables, so it could disable the " +
        `audit log's triggers. Set DATABASE_MIGRATION_URL to the owner and DATABASE_URL to a login in ${APP_ROLE} (README, "Two database roles").`,
    );
  }
}

/** Runs the migrations through the owner connection `url`, on a connection of its own. */
export async function migrateAsOwner(
  url: string,
  options: Pick<OpenGovernanceStoreOptions, "schema" | "pool"> = {},
): Promise<string[]> {
  const owner = createPgClient({
    connectionString: url,
    max: 1,
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
    ...(options.pool ? { ...pgPoolBounds(options.pool), max: 1 } : {}),
  });
  try {
    return await migrate(owner);
  } finally {
    await owner.close();
  }
}

/** Whether the connection's role is a superuser or owns `audit_logs` (so triggers do not bind it). */
async function ownsGovernanceTables(client: SqlClient): Promise<boolean> {
  const [row] = await client.query<{ owner: boolean }>(
    `SELECT r.rolsuper OR pg_has_role(current_user, c.relowner, 'USAGE') AS owner
     FROM pg_roles r, pg_class c
     WHERE r.rolname = current_user AND c.oid = to_regclass('audit_logs')`,
  );
  return row?.owner === true;
}
