import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS, migrate } from "../../src/adapters/postgres/migrations.js";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import { dropSchema, openPgTestStore, randomSchemaName, TEST_AUDIT_KEY } from "../helpers/postgres.js";
import { describeGovernanceStoreContract } from "./governance-store.contract.js";

const databaseUrl = process.env.DATABASE_URL ?? "";

// A PostgreSQL server is optional on a developer machine and in CI; PGlite runs the same contract
// on every run (governance-store.pglite.test.ts), and this file adds the real server when configured.
describe.skipIf(!databaseUrl)("PostgreSQL server (DATABASE_URL)", () => {
  describeGovernanceStoreContract("pg", () => openPgTestStore(databaseUrl));

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
  });
});
