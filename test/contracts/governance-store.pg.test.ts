import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS, MigrationsPendingError, migrate } from "../../src/adapters/postgres/migrations.js";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import {
  dropSchema,
  ensureTestAppLogin,
  openPgTestStore,
  randomSchemaName,
  TEST_AUDIT_KEY,
  testAppUrl,
} from "../helpers/postgres.js";
import { describeGovernanceSecurityContract } from "./governance-security.contract.js";
import { describeGovernanceStoreContract } from "./governance-store.contract.js";

const databaseUrl = process.env.DATABASE_URL ?? "";

// A PostgreSQL server is optional on a developer machine and in CI; PGlite runs the same contract
// on every run (governance-store.pglite.test.ts), and this file adds the real server when configured.
describe.skipIf(!databaseUrl)("PostgreSQL server (DATABASE_URL)", () => {
  describeGovernanceStoreContract("pg", () => openPgTestStore(databaseUrl));
  describeGovernanceSecurityContract("pg", () => openPgTestStore(databaseUrl));

  describe("migrations and opening", () => {
    const schemas: string[] = [];
    afterAll(async () => {
      for (const schema of schemas) await dropSchema(databaseUrl, schema);
    });

    it("three migrators racing on an empty schema apply each migration exactly once", async () => {
      const schema = randomSchemaName();
      schemas.push(schema);
      const clients = [1, 2, 3].map(() => createPgClient({ connectionString: databaseUrl, schema, max: 2 }));
      try {
        const applied = await Promise.all(clients.map((client) => migrate(client)));

        expect(applied.flat().sort()).toEqual(MIGRATIONS.map((m) => m.id));
        expect(applied.flat()).toHaveLength(MIGRATIONS.length);
        const [head] = await (clients[0]?.query<{ seq: string; last_hash: string }>(
          "SELECT seq, last_hash FROM audit_chain_head",
        ) ?? []);
        expect(head).toEqual({ seq: "0", last_hash: "0".repeat(64) });
      } finally {
        await Promise.all(clients.map((client) => client.close()));
      }
    });

    it("openGovernanceStore works in its own schema and survives reopening", async () => {
      const schema = randomSchemaName();
      schemas.push(schema);

      const store = await openGovernanceStore({ databaseUrl, schema, auditKey: TEST_AUDIT_KEY });
      const entry = await store.transaction((tx) =>
        tx.audit.append({
          action: "agent_registered",
          agent_id: "agent-open",
          resource: "agent:agent-open",
          actor: "api:test",
          success: true,
          cost: "0.000001",
          details: {},
          occurred_at: "2030-01-01T00:00:00.000Z",
        }),
      );
      await store.close();
      const again = await openGovernanceStore({ databaseUrl, schema, auditKey: TEST_AUDIT_KEY });
      try {
        expect(await again.listAudit()).toEqual([entry]);
        expect(await again.verifyAudit()).toEqual({ ok: true, rows: 1, verified_through: 1, complete: true });
      } finally {
        await again.close();
      }
    });

    /** A URL that works in `schema` (a startup option: the CLI takes only a URL). */
    const inSchema = (url: string, schema: string) => {
      const withSchema = new URL(url);
      withSchema.searchParams.set("options", `-c search_path=${schema}`);
      return withSchema.toString();
    };
    const entryInput = {
      action: "agent_registered",
      agent_id: "agent-two-roles",
      resource: "agent:agent-two-roles",
      actor: "api:test",
      success: true,
      cost: null,
      details: {},
      occurred_at: "2030-01-01T00:00:00.000Z",
    };

    it("two roles: migrates through the owner URL, then works as the app login without a warning", async () => {
      const schema = randomSchemaName();
      schemas.push(schema);
      const warnings: string[] = [];
      // The app login must exist before it connects (ops create it; here the helper does).
      const owner = createPgClient({ connectionString: databaseUrl, max: 1 });
      await ensureTestAppLogin(owner).finally(() => owner.close());

      const store = await openGovernanceStore({
        databaseUrl: testAppUrl(databaseUrl),
        migrationUrl: databaseUrl,
        schema,
        auditKey: TEST_AUDIT_KEY,
        warn: (message) => warnings.push(message),
      });
      try {
        await store.transaction((tx) => tx.audit.append(entryInput));
        expect(await store.verifyAudit({ full: true })).toEqual({
          ok: true,
          rows: 1,
          verified_through: 1,
          complete: true,
        });
        expect(warnings).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it("one role: DATABASE_URL as the tables' owner migrates and is warned about", async () => {
      const schema = randomSchemaName();
      schemas.push(schema);
      const warnings: string[] = [];
      const store = await openGovernanceStore({
        databaseUrl,
        schema,
        auditKey: TEST_AUDIT_KEY,
        warn: (message) => warnings.push(message),
      });
      await store.close();
      expect(warnings).toEqual([expect.stringContaining("one database role")]);
    });

    it("the app login alone refuses to start on pending migrations, with what to run", async () => {
      // An empty schema (the owner made it, nothing more): the app role may not create tables there.
      const fresh = randomSchemaName();
      schemas.push(fresh);
      const owner = createPgClient({ connectionString: databaseUrl, schema: fresh, max: 1 });
      await owner.query("SELECT 1").finally(() => owner.close());
      await expect(
        openGovernanceStore({
          databaseUrl: testAppUrl(databaseUrl),
          schema: fresh,
          auditKey: TEST_AUDIT_KEY,
        }),
      ).rejects.toThrow(MigrationsPendingError);
      await expect(
        openGovernanceStore({
          databaseUrl: testAppUrl(databaseUrl),
          schema: fresh,
          auditKey: TEST_AUDIT_KEY,
        }),
      ).rejects.toThrow(/npm run db:migrate with DATABASE_MIGRATION_URL/);
    });

    it("npm run db:migrate applies the migrations through DATABASE_MIGRATION_URL, once", async () => {
      const schema = randomSchemaName();
      schemas.push(schema);
      const owner = createPgClient({ connectionString: databaseUrl, schema, max: 1 });
      await owner.query("SELECT 1").finally(() => owner.close());
      const run = () =>
        promisify(execFile)("npx", ["tsx", "src/cli/db-migrate.ts"], {
          env: { ...process.env, DATABASE_URL: "", DATABASE_MIGRATION_URL: inSchema(databaseUrl, schema) },
        });

      expect((await run()).stdout).toContain(`applied ${MIGRATIONS.map((m) => m.id).join(", ")}`);
      expect((await run()).stdout).toContain("up to date");
      const store = await openGovernanceStore({
        databaseUrl: testAppUrl(databaseUrl),
        schema,
        auditKey: TEST_AUDIT_KEY,
      });
      try {
        await store.transaction((tx) => tx.audit.append(entryInput));
        expect(await store.listAudit()).toHaveLength(1);
      } finally {
        await store.close();
      }
    });
  });
});
