import { randomBytes } from "node:crypto";
import { createPostgresGovernanceStore } from "../../src/adapters/postgres/governance.store.js";
import { migrate } from "../../src/adapters/postgres/migrations.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import { createPgliteClient } from "../../src/adapters/postgres/pglite.client.js";
import type { SqlClient } from "../../src/adapters/postgres/sql-client.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";

/** A fixed audit key for tests; any non-empty secret works. */
export const TEST_AUDIT_KEY = "test-audit-key-0123456789abcdef";

/** Small, so the contract's chains span several verification pages. */
const VERIFY_PAGE_SIZE = 7;

/** A migrated store plus its raw client, for tests that need SQL the port does not offer. */
export interface TestGovernanceStore {
  store: GovernanceStore;
  client: SqlClient;
  auditKey: string;
  /** Closes the store and removes what the helper created (the pg schema). */
  dispose(): Promise<void>;
}

/** A fresh in-memory PGlite database, migrated. PGlite takes ~3 s to start: share one per file. */
export async function openPgliteTestStore(): Promise<TestGovernanceStore> {
  const client = await createPgliteClient();
  await migrate(client);
  const store = createPostgresGovernanceStore({
    client,
    auditKey: TEST_AUDIT_KEY,
    verifyPageSize: VERIFY_PAGE_SIZE,
  });
  return { store, client, auditKey: TEST_AUDIT_KEY, dispose: () => store.close() };
}

/** A random schema name, so test files sharing one server never see each other's rows. */
export function randomSchemaName(): string {
  return `gov_test_${randomBytes(6).toString("hex")}`;
}

/**
 * A store on the PostgreSQL server at `databaseUrl` (tests pass `process.env.DATABASE_URL`), in a
 * fresh random schema that `dispose` drops.
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
  const store = createPostgresGovernanceStore({
    client,
    auditKey: TEST_AUDIT_KEY,
    verifyPageSize: VERIFY_PAGE_SIZE,
  });
  return {
    store,
    client,
    auditKey: TEST_AUDIT_KEY,
    async dispose() {
      await store.close();
      await dropSchema(databaseUrl, schema);
    },
  };
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
