import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUDIT_COLUMNS,
  auditRowParams,
  createPostgresGovernanceStore,
} from "../../src/adapters/postgres/governance.store.js";
import { APP_ROLE, SQLSTATE_APPEND_ONLY } from "../../src/adapters/postgres/migrations.js";
import { sqlState } from "../../src/adapters/postgres/sql-client.js";
import { NotFoundError, ValidationError } from "../../src/domain/errors.js";
import {
  type AuditContent,
  type AuditKeyring,
  canonicalAuditContent,
  GENESIS_HASH,
  signAuditRow,
} from "../../src/domain/governance/audit-chain.js";
import type { AuditEntryInput, NewEscrow } from "../../src/domain/governance/governance.types.js";
import { brokenAt, intact } from "../helpers/audit-verdicts.js";
import type { TestGovernanceStore } from "../helpers/postgres.js";

const T0 = Date.parse("2030-06-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const K1 = "rotation-key-one-0123456789abcdef-0123";
const K2 = "rotation-key-two-0123456789abcdef-4567";

function auditInput(agentId: string | null, overrides: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    action: "escrow_created",
    agent_id: agentId,
    resource: `agent:${agentId ?? "none"}`,
    actor: "system:projector",
    success: true,
    cost: null,
    details: { n: 1 },
    occurred_at: at(0),
    ...overrides,
  };
}

/** What a statement's rejection says: its SQLSTATE. */
async function refusal(run: Promise<unknown>): Promise<string | undefined> {
  try {
    await run;
  } catch (error) {
    return sqlState(error);
  }
  return "no error";
}

/**
 * The two-role setup and row-level security, run once per database. `open` gives a migrated store
 * working as the app role, with the owner connection beside it (test/helpers/postgres.ts). The
 * suite shares one between tests (isolated by unique ids); the key rotation test opens its own.
 */
export function describeGovernanceSecurityContract(
  label: string,
  open: () => Promise<TestGovernanceStore>,
): void {
  describe(`Governance roles and row-level security (${label})`, () => {
    let fx: TestGovernanceStore;

    beforeAll(async () => {
      fx = await open();
      await fx.store.transaction(async (tx) => {
        for (let i = 0; i < 3; i += 1) await tx.audit.append(auditInput(null, { occurred_at: at(i) }));
      });
    });

    afterAll(async () => {
      await fx?.dispose();
    });

    const auditCount = async () => {
      const [row] = await fx.client.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_logs");
      return row?.n;
    };

    describe("the app role cannot cut the audit log", () => {
      it("is neither a superuser nor the tables' owner", async () => {
        const [me] = await fx.appClient.query<{ super: boolean; owner: boolean; member: boolean }>(
          `SELECT r.rolsuper AS super, pg_has_role(current_user, c.relowner, 'USAGE') AS owner,
                  pg_has_role(current_user, '${APP_ROLE}', 'USAGE') AS member
           FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'audit_logs'::regclass`,
        );
        expect(me).toEqual({ super: false, owner: false, member: true });
      });

      it.each([
        ["ALTER TABLE audit_logs DISABLE TRIGGER ALL"],
        ["ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update_delete"],
        ["ALTER TABLE audit_chain_head DISABLE TRIGGER ALL"],
        ["DROP TRIGGER audit_logs_no_update_delete ON audit_logs"],
        ["ALTER TABLE audit_logs DISABLE ROW LEVEL SECURITY"],
        ["DELETE FROM audit_logs WHERE seq = (SELECT max(seq) FROM audit_logs)"],
        ["UPDATE audit_logs SET actor = 'operator:mallory'"],
        ["TRUNCATE audit_logs"],
        ["SET session_replication_role = replica"],
        ["CREATE TABLE audit_logs_shadow (seq bigint)"],
      ])("refuses %s with a permission error", async (statement) => {
        const before = await auditCount();
        expect(await refusal(fx.appClient.query(statement))).toBe("42501");
        expect(await auditCount()).toBe(before);
        expect(await fx.store.verifyAudit({ full: true })).toMatchObject({ ok: true });
      });

      it("cannot rewind the chain head (the forward-only trigger binds it)", async () => {
        const head = await fx.store.auditHead();
        expect(
          await refusal(fx.appClient.query("UPDATE audit_chain_head SET seq = seq - 1 WHERE id = 1")),
        ).toBe(SQLSTATE_APPEND_ONLY);
        expect(await refusal(fx.appClient.query("DELETE FROM audit_chain_head"))).toBe("42501");
        expect(await fx.store.auditHead()).toEqual(head);
      });

      it("the owner can (inside a transaction rolled back here), which is what the chain and anchors detect", async () => {
        const before = await auditCount();
        const rollback = new Error("roll back");
        await expect(
          fx.client.transaction(async (tx) => {
            await tx.query("ALTER TABLE audit_logs DISABLE TRIGGER ALL");
            await tx.query("DELETE FROM audit_logs WHERE seq = (SELECT max(seq) FROM audit_logs)");
            const [row] = await tx.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_logs");
            expect(row?.n).toBe((before ?? 0) - 1);
            throw rollback;
          }),
        ).rejects.toBe(rollback);
        expect(await auditCount()).toBe(before);
        expect(await fx.store.verifyAudit({ full: true })).toMatchObject({ ok: true });
      });
    });

    describe("row-level security for an agent principal", () => {
      const a = uid("agent-a");
      const b = uid("agent-b");
      const task = `https://github.com/acme/rls/issues/${Math.floor(Math.random() * 1e6)}`;
      const escrowOf = { [a]: randomUUID(), [b]: randomUUID() };
      const approvalOf = { [a]: uid("approval-a"), [b]: uid("approval-b") };
      const newEscrow = (agentId: string, id = randomUUID()): NewEscrow => ({
        id,
        task_id: task,
        agent_id: agentId,
        worker_wallet: null,
        amount: "10",
        task_description: null,
        created_at: at(1),
      });

      beforeAll(async () => {
        // Operator/system work (no agent scope) writes both agents' rows.
        await fx.store.transaction(async (tx) => {
          for (const agentId of [a, b]) {
            await tx.escrows.create(newEscrow(agentId, escrowOf[agentId]));
            await tx.agents.upsert(
              {
                agent_id: agentId,
                bidding_endpoint: `https://${agentId}.example/bid`,
                endpoint_kind: "https",
                status: "active",
                kill_switch_active: false,
                outcomes: 1,
                successes: 1,
                quality_micros: 1_000_000,
                profile_version: 1,
                updated_at: at(1),
              },
              at(1),
            );
            await tx.health.record({
              agent_id: agentId,
              uptime_percentage: 99,
              error_rate: 0.01,
              avg_latency_ms: 20,
              recorded_at: at(1),
            });
            await tx.approvals.create({
              id: approvalOf[agentId] as string,
              task_id: task,
              agent_id: agentId,
              bid_amount: "10",
              reason: "above threshold",
              requested_at: at(1),
            });
            await tx.audit.append(auditInput(agentId, { occurred_at: at(1) }));
          }
        });
      });

      /** B's rows as the owner sees them, past row-level security. */
      const rawRowsOfB = () =>
        fx.client.transaction(async (tx) => ({
          escrow: await tx.query("SELECT * FROM escrows WHERE agent_id = $1", [b]),
          trust: await tx.query("SELECT * FROM agent_trust WHERE agent_id = $1", [b]),
          health: await tx.query("SELECT * FROM health_metrics WHERE agent_id = $1", [b]),
          approval: await tx.query("SELECT * FROM approval_requests WHERE agent_id = $1", [b]),
          audit: await tx.query("SELECT * FROM audit_logs WHERE agent_id = $1", [b]),
        }));

      it("reads made for A, filtered by B's id, return none of B's rows", async () => {
        const forA = fx.store.forAgent(a);
        expect((await forA.listEscrows({ agentId: b })).items).toEqual([]);
        expect((await forA.listEscrows({ taskId: task })).items.map((e) => e.agent_id)).toEqual([a]);
        expect(await forA.listAudit({ agentId: b })).toEqual([]);
        expect((await forA.listAudit()).map((row) => row.agent_id)).toEqual([a]);
        expect(
          (await forA.listApprovals(undefined, { limit: 100 })).items.map((request) => request.agent_id),
        ).toEqual([a]);
        const seen = await fx.store.transaction(
          async (tx) => ({
            escrow: await tx.escrows.get(escrowOf[b] as string),
            locked: await tx.escrows.getForUpdate(escrowOf[b] as string),
            trust: await tx.agents.get(b),
            health: await tx.health.summary(b, at(0)),
            approval: await tx.approvals.get(approvalOf[b] as string),
            own: await tx.escrows.get(escrowOf[a] as string),
          }),
          { agentId: a },
        );
        expect(seen).toMatchObject({
          escrow: undefined,
          locked: undefined,
          trust: undefined,
          health: undefined,
          approval: undefined,
          own: { agent_id: a },
        });
        // Operator scope (the default) still sees both.
        expect((await fx.store.listEscrows({ taskId: task })).items.map((e) => e.agent_id).sort()).toEqual(
          [a, b].sort(),
        );
      });

      it("updates of B's rows made for A change nothing (raw reads as the owner)", async () => {
        const before = await rawRowsOfB();
        const forA = fx.store.forAgent(a);

        await expect(
          forA.transaction((tx) => tx.escrows.transition(escrowOf[b] as string, "released", "api", at(5))),
        ).rejects.toBeInstanceOf(NotFoundError);
        await expect(
          forA.transaction((tx) => tx.agents.setTrust(b, { trust_score: 1, audit_level: "Bronze" }, at(5))),
        ).rejects.toBeInstanceOf(NotFoundError);
        await expect(
          forA.transaction((tx) =>
            tx.approvals.decide(approvalOf[b] as string, "approved", `agent:${a}`, at(5), null),
          ),
        ).rejects.toBeInstanceOf(NotFoundError);
        // Raw SQL as the app role, scoped to A: the policy hides B's row from the UPDATE.
        const updated = await fx.appClient.transaction(async (tx) => {
          await tx.query("SELECT set_config('agentforge.agent_id', $1, true)", [a]);
          return tx.query(
            "UPDATE escrows SET status = 'disputed', updated_at = now() WHERE id = $1 RETURNING id",
            [escrowOf[b]],
          );
        });
        expect(updated).toEqual([]);

        expect(await rawRowsOfB()).toEqual(before);
        expect(before.escrow).toHaveLength(1);
        expect(before.escrow[0]).toMatchObject({ status: "pending" });
      });

      it("writes made for A may not create rows of B, and its own work goes through", async () => {
        const before = await rawRowsOfB();
        const head = await fx.store.auditHead();
        const forA = fx.store.forAgent(a);
        for (const write of [
          () => forA.transaction((tx) => tx.escrows.create(newEscrow(b))),
          () => forA.transaction((tx) => tx.audit.append(auditInput(b))),
          () => forA.transaction((tx) => tx.audit.append(auditInput(null))),
          () =>
            forA.transaction((tx) =>
              tx.health.record({
                agent_id: b,
                uptime_percentage: 1,
                error_rate: 1,
                avg_latency_ms: 1,
                recorded_at: at(6),
              }),
            ),
        ]) {
          expect(await refusal(write())).toBe("42501");
        }
        expect(await rawRowsOfB()).toEqual(before);
        expect(await fx.store.auditHead()).toEqual(head);

        const moved = await forA.transaction(async (tx) => {
          const escrow = await tx.escrows.transition(escrowOf[a] as string, "disputed", "api", at(7));
          await tx.audit.append(auditInput(a, { action: "escrow_disputed", occurred_at: at(7) }));
          return escrow;
        });
        expect(moved).toMatchObject({ agent_id: a, status: "disputed" });
        expect(await fx.store.verifyAudit({ full: true })).toMatchObject({ ok: true });
      });

      it("refuses an empty or control-character agent id rather than fall back to operator scope", async () => {
        await expect(fx.store.transaction(async () => 1, { agentId: "" })).rejects.toBeInstanceOf(
          ValidationError,
        );
        expect(() => fx.store.forAgent("a\u0000b")).toThrow(ValidationError);
      });
    });

    describe("audit key rotation", () => {
      it("verifies legacy, k1 and k2 rows with one keyring, and names the key id when k1 is gone", async () => {
        const db = await open();
        try {
          // Three legacy rows (no key id), as written before key ids existed, under the plain key.
          let prev = GENESIS_HASH;
          for (let seq = 1; seq <= 3; seq += 1) {
            const content: AuditContent = { ...auditInput(null, { occurred_at: at(seq) }), seq };
            const signature = signAuditRow(db.auditKey, canonicalAuditContent(content), prev);
            await db.client.transaction(async (tx) => {
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
          const storeWith = (keyring: AuditKeyring) =>
            createPostgresGovernanceStore({ client: db.appClient, auditKey: keyring });
          const k1 = storeWith({ current: "k1", keys: { default: db.auditKey, k1: K1 } });
          const k2 = storeWith({ current: "k2", keys: { default: db.auditKey, k1: K1, k2: K2 } });
          const withoutK1 = storeWith({ current: "k2", keys: { default: db.auditKey, k2: K2 } });
          const append = (store: typeof k1, count: number) =>
            store.transaction(async (tx) => {
              for (let i = 0; i < count; i += 1)
                await tx.audit.append(auditInput(null, { occurred_at: at(10 + i) }));
            });

          await append(k1, 4);
          expect(await k1.verifyAudit()).toEqual(intact(7));
          await append(k2, 4);

          expect(await k2.verifyAudit({ full: true })).toEqual(intact(11));
          expect(await k2.verifyAudit()).toEqual(intact(11));
          const keyIds = await db.client.query<{ key_id: string | null }>(
            "SELECT key_id FROM audit_logs ORDER BY seq",
          );
          expect(keyIds.map((row) => row.key_id)).toEqual([
            null,
            null,
            null,
            "k1",
            "k1",
            "k1",
            "k1",
            "k2",
            "k2",
            "k2",
            "k2",
          ]);
          const [checkpoint] = await db.client.query<{ key_id: string }>(
            "SELECT key_id FROM audit_verification_checkpoint",
          );
          expect(checkpoint?.key_id).toBe("k2");

          expect(await withoutK1.verifyAudit({ full: true })).toEqual(
            brokenAt(4, 3, expect.stringContaining('key id "k1"')),
          );
          // The plain key alone still verifies the legacy rows, then stops at the first k1 row.
          expect(await db.store.verifyAudit({ full: true })).toEqual(
            brokenAt(4, 3, expect.stringContaining('key id "k1"')),
          );

          // The signature covers the key id: relabelling a k1 row as k2 (the owner, triggers off) breaks it.
          await db.client.transaction(async (tx) => {
            await tx.query("SET LOCAL session_replication_role = replica");
            await tx.query("UPDATE audit_logs SET key_id = 'k2' WHERE seq = 5");
          });
          expect(await k2.verifyAudit({ full: true })).toEqual(
            brokenAt(5, 4, expect.stringContaining("signature of seq 5")),
          );
        } finally {
          await db.dispose();
        }
      });
    });
  });
}
