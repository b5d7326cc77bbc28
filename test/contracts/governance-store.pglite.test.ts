import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AUDIT_COLUMNS, auditRowParams } from "../../src/adapters/postgres/governance.store.js";
import { APP_ROLE, MIGRATIONS, migrate } from "../../src/adapters/postgres/migrations.js";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { createPgliteClient } from "../../src/adapters/postgres/pglite.client.js";
import {
  type AuditContent,
  canonicalAuditContent,
  GENESIS_HASH,
  signAuditRow,
} from "../../src/domain/governance/audit-chain.js";
import { openPgliteTestStore, TEST_AUDIT_KEY } from "../helpers/postgres.js";
import { describeGovernanceSecurityContract } from "./governance-security.contract.js";
import { describeGovernanceStoreContract } from "./governance-store.contract.js";

describeGovernanceStoreContract("PGlite", openPgliteTestStore);
describeGovernanceSecurityContract("PGlite", openPgliteTestStore);

describe("PGlite governance store on disk", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("keeps its data across close and reopen, creating the directory if missing", async () => {
    const parent = await mkdtemp(join(tmpdir(), "agentforge-pglite-"));
    dirs.push(parent);
    const dataDir = join(parent, "nested", "governance");
    const escrowId = "6f1c1f0e-2b1d-4c39-9b52-4f3b1d2a7e10";

    const first = await openGovernanceStore({ dataDir, auditKey: TEST_AUDIT_KEY });
    const appended = await first.transaction(async (tx) => {
      await tx.escrows.create({
        id: escrowId,
        task_id: "https://github.com/acme/app/issues/7",
        agent_id: "agent-disk",
        worker_wallet: null,
        amount: "42",
        task_description: null,
        created_at: "2030-01-01T00:00:00.000Z",
      });
      return tx.audit.append({
        action: "escrow_created",
        agent_id: "agent-disk",
        resource: `escrow:${escrowId}`,
        actor: "system:projector",
        success: true,
        cost: null,
        details: { amount: "42.000000" },
        occurred_at: "2030-01-01T00:00:00.000Z",
      });
    });
    expect(await first.applyOnce("disk-event", async () => {})).toBe(true);
    await first.close();

    const reopened = await openGovernanceStore({ dataDir, auditKey: TEST_AUDIT_KEY });
    try {
      expect(await reopened.listAudit()).toEqual([appended]);
      expect(await reopened.verifyAudit()).toEqual({
        ok: true,
        rows: 1,
        verified_through: 1,
        complete: true,
      });
      expect(await reopened.wasApplied("disk-event")).toBe(true);
      expect(await reopened.transaction((tx) => tx.escrows.get(escrowId))).toMatchObject({
        amount: "42.000000",
        status: "pending",
      });
    } finally {
      await reopened.close();
    }

    const withOtherKey = await openGovernanceStore({ dataDir, auditKey: "another-key" });
    try {
      expect(await withOtherKey.verifyAudit()).toMatchObject({
        ok: false,
        first_bad_seq: 1,
        rows_checked: 0,
      });
    } finally {
      await withOtherKey.close();
    }
  });

  it("opens as the app role: row-level security binds the store and the role may not cut the log", async () => {
    const parent = await mkdtemp(join(tmpdir(), "agentforge-pglite-role-"));
    dirs.push(parent);
    const store = await openGovernanceStore({ dataDir: parent, auditKey: TEST_AUDIT_KEY });
    try {
      await store.transaction(async (tx) => {
        for (const agent of ["agent-a", "agent-b"]) {
          await tx.escrows.create({
            id:
              agent === "agent-a"
                ? "0b7c7c46-8f0e-4a51-9f51-5b0c8d1e2a01"
                : "0b7c7c46-8f0e-4a51-9f51-5b0c8d1e2a02",
            task_id: "https://github.com/acme/app/issues/9",
            agent_id: agent,
            worker_wallet: null,
            amount: "5",
            task_description: null,
            created_at: "2030-01-01T00:00:00.000Z",
          });
        }
      });
      expect((await store.forAgent("agent-a").listEscrows({ agentId: "agent-b" })).items).toEqual([]);
      expect((await store.listEscrows({ agentId: "agent-b" })).items).toHaveLength(1);
    } finally {
      await store.close();
    }

    // The same files opened raw, as PGlite's superuser: what the app role was granted.
    const raw = await createPgliteClient({ dataDir: parent });
    try {
      const [grants] = await raw.query<Record<string, boolean>>(
        `SELECT has_table_privilege('${APP_ROLE}', 'audit_logs', 'INSERT') AS append,
                has_table_privilege('${APP_ROLE}', 'audit_logs', 'UPDATE') AS edit,
                has_table_privilege('${APP_ROLE}', 'audit_logs', 'DELETE') AS remove,
                has_table_privilege('${APP_ROLE}', 'audit_logs', 'TRUNCATE') AS truncate,
                (SELECT rolsuper OR rolcanlogin FROM pg_roles WHERE rolname = '${APP_ROLE}') AS login_or_super`,
      );
      expect(grants).toEqual({
        append: true,
        edit: false,
        remove: false,
        truncate: false,
        login_or_super: false,
      });
    } finally {
      await raw.close();
    }
  });

  it("keeps rows written before key ids verifiable after migrating, and signs new ones with a key id", async () => {
    const parent = await mkdtemp(join(tmpdir(), "agentforge-pglite-legacy-"));
    dirs.push(parent);
    // A database as the previous release left it: migrations 0001-0003 and two signed rows.
    const old = await createPgliteClient({ dataDir: parent });
    try {
      await migrate(old, MIGRATIONS.slice(0, 3));
      let prev = GENESIS_HASH;
      for (const seq of [1, 2]) {
        const content: AuditContent = {
          seq,
          action: "agent_registered",
          agent_id: "agent-legacy",
          resource: "agent:agent-legacy",
          actor: "api:test",
          success: true,
          cost: "1.5",
          details: { seq },
          occurred_at: "2029-12-31T00:00:00.000Z",
        };
        const signature = signAuditRow(TEST_AUDIT_KEY, canonicalAuditContent(content), prev);
        await old.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO audit_logs (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11)`,
            auditRowParams({ ...content, prev_hash: prev, signature }),
          );
          await tx.query("UPDATE audit_chain_head SET seq = $1, last_hash = $2 WHERE id = 1", [
            seq,
            signature,
          ]);
        });
        prev = signature;
      }
    } finally {
      await old.close();
    }

    const store = await openGovernanceStore({ dataDir: parent, auditKey: TEST_AUDIT_KEY });
    try {
      expect(await store.verifyAudit({ full: true })).toEqual({
        ok: true,
        rows: 2,
        verified_through: 2,
        complete: true,
      });
      const appended = await store.transaction((tx) =>
        tx.audit.append({
          action: "agent_registered",
          agent_id: "agent-legacy",
          resource: "agent:agent-legacy",
          actor: "api:test",
          success: true,
          cost: null,
          details: {},
          occurred_at: "2030-01-01T00:00:00.000Z",
        }),
      );
      expect(appended.key_id).toBe("default");
      expect((await store.listAudit()).map((row) => row.key_id)).toEqual([null, null, "default"]);
      expect(await store.verifyAudit({ full: true })).toEqual({
        ok: true,
        rows: 3,
        verified_through: 3,
        complete: true,
      });
    } finally {
      await store.close();
    }
  });
});
