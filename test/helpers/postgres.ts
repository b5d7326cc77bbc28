import { randomBytes } from "node:crypto";
import { createPostgresGovernanceStore } from "../../src/adapters/postgres/governance.store.js";
import { APP_ROLE, migrate, useAppRole } from "../../src/adapters/postgres/migrations.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import { createPgliteClient } from "../../src/adapters/postgres/pglite.client.js";
import type { SqlClient } from "../../src/adapters/postgres/sql-client.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";

/** A fixed audit key for tests; any non-empty secret works. */
export const TEST_AUDIT_KEY = "test-audit-key-0123456789abcdef";

/** Small, so the contract's chains span several verification pages. */
const VERIFY_PAGE_SIZE = 7;

/**
 * The server login the tests use for the app, a member of {@link APP_ROLE}; created (race-safe,
 * once per cluster) by {@link openPgTestStore}. The password matters only on servers that ask for one.
 */
export const TEST_APP_LOGIN = "agentforge_app_test";
const TEST_APP_PASSWORD = "agentforge-app-test";

/**
 * A migrated store in the two-role setup, plus raw connections for what the port does not offer.
 * `store` works as the app role ({@link APP_ROLE}: SELECT/INSERT on the audit log, no DDL, bound by
 * row-level security); `client` is the owner, for migrations, tampering (disabling triggers,
 * deleting rows, rewinding the head) and raw reads that see every row; `appClient` is the store's
 * own connection, for raw statements that must be refused or filtered as the app's would be.
 */
export interface TestGovernanceStore {
  store: GovernanceStore;
  /** The owner: a superuser (PGlite's built-in one, or DATABASE_URL's user on the server). */
  client: SqlClient;
  /** The app role's connection (the one `store` runs on). Other stores may be built on it. */
  appClient: SqlClient;
  auditKey: string;
  /** Closes the store and removes what the helper created (the pg schema). */
  dispose(): Promise<void>;
}

/**
 * A fresh in-memory PGlite database, migrated, its session switched to the app role as
 * openGovernanceStore does. PGlite takes ~3 s to start: share one per file.
 */
export async function openPgliteTestStore(): Promise<TestGovernanceStore> {
  const appClient = await createPgliteClient();
  await migrate(appClient);
  await useAppRole(appClient);
  const store = createPostgresGovernanceStore({
    client: appClient,
    auditKey: TEST_AUDIT_KEY,
    verifyPageSize: VERIFY_PAGE_SIZE,
  });
  return {
    store,
    client: pgliteOwner(appClient),
    appClient,
    auditKey: TEST_AUDIT_KEY,
    dispose: () => store.close(),
  };
}

/**
 * The owner's view of a PGlite session that runs as the app role: every call runs in a transaction
 * that first drops back to the session user (`SET LOCAL ROLE NONE`: PGlite's superuser), which ends
 * with the transaction. PGlite is single-user, so any code in the process could do this.
 */
export function pgliteOwner(client: SqlClient): SqlClient {
  const asOwner = <T>(fn: Parameters<SqlClient["transaction"]>[0]) =>
    client.transaction(async (tx) => {
      await tx.query("SET LOCAL ROLE NONE");
      return (await fn(tx)) as T;
    });
  return {
    kind: client.kind,
    query: <R>(text: string, params?: unknown[]) => asOwner<R[]>((tx) => tx.query<R>(text, params)),
    exec: (script) => asOwner<void>((tx) => tx.exec(script)),
    transaction: (fn) => asOwner(fn),
    close: () => client.close(),
  };
}

/** A random schema name, so test files sharing one server never see each other's rows. */
export function randomSchemaName(): string {
  return `gov_test_${randomBytes(6).toString("hex")}`;
}

/**
 * A store on the PostgreSQL server at `databaseUrl` (tests pass `process.env.DATABASE_URL`, a
 * superuser), in a fresh random schema that `dispose` drops. Migrations run as that user (the
 * owner); the store connects as {@link TEST_APP_LOGIN}, a login in {@link APP_ROLE}.
 */
export async function openPgTestStore(databaseUrl: string): Promise<TestGovernanceStore> {
  const schema = randomSchemaName();
  const client = createPgClient({
    connectionString: databaseUrl,
    schema,
    max: 10,
    connectionTimeoutMs: 5_000,
  });
  await migrate(client);
  await ensureTestAppLogin(client);
  const appClient = createPgClient({
    connectionString: testAppUrl(databaseUrl),
    schema,
    createSchema: false,
    max: 10,
    connectionTimeoutMs: 5_000,
  });
  const store = createPostgresGovernanceStore({
    client: appClient,
    auditKey: TEST_AUDIT_KEY,
    verifyPageSize: VERIFY_PAGE_SIZE,
  });
  return {
    store,
    client,
    appClient,
    auditKey: TEST_AUDIT_KEY,
    async dispose() {
      await store.close();
      await client.close();
      await dropSchema(databaseUrl, schema);
    },
  };
}

/** `databaseUrl` with the test app login as its user. */
export function testAppUrl(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.username = TEST_APP_LOGIN;
  url.password = TEST_APP_PASSWORD;
  return url.toString();
}

/**
 * Creates {@link TEST_APP_LOGIN} and makes it a member of the app role, unless done already. Roles
 * are cluster-wide and test files run at once, so a concurrent creator's duplicate is ignored.
 */
export async function ensureTestAppLogin(owner: SqlClient): Promise<void> {
  await owner.exec(`DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${TEST_APP_LOGIN}') THEN
    BEGIN
      CREATE ROLE ${TEST_APP_LOGIN} LOGIN PASSWORD '${TEST_APP_PASSWORD}' NOSUPERUSER NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF NOT pg_has_role('${TEST_APP_LOGIN}', '${APP_ROLE}', 'MEMBER') THEN
    BEGIN
      GRANT ${APP_ROLE} TO ${TEST_APP_LOGIN};
    EXCEPTION WHEN unique_violation THEN NULL;
    END;
  END IF;
END
$$`);
}

/** Drops a test schema and everything in it, from a connection of its own. */
export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema))
    throw new Error(`Refusing to drop schema ${JSON.stringify(schema)}`);
  const admin = createPgClient({ connectionString: databaseUrl, max: 1 });
  try {
    await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.close();
  }
}
