import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MIGRATIONS,
  migrate,
  SQLSTATE_APPEND_ONLY,
  SQLSTATE_ILLEGAL_TRANSITION,
} from "../../src/adapters/postgres/migrations.js";
import { ConflictError, NotFoundError, ValidationError } from "../../src/domain/errors.js";
import {
  canonicalAuditContent,
  GENESIS_HASH,
  signAuditRow,
} from "../../src/domain/governance/audit-chain.js";
import type {
  AgentSnapshot,
  AuditEntry,
  AuditEntryInput,
  Escrow,
  EscrowResolver,
  EscrowStatus,
  NewEscrow,
} from "../../src/domain/governance/governance.types.js";
import type { GovernanceTx } from "../../src/ports/governance-store.js";
import { brokenAt, intact } from "../helpers/audit-verdicts.js";
import type { TestGovernanceStore } from "../helpers/postgres.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
/** A pinned timestamp `seconds` after T0, as the store returns it. */
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

const STATUSES: EscrowStatus[] = ["pending", "released", "refunded", "disputed"];
const RESOLVERS: EscrowResolver[] = ["api", "judge", "timeout"];
/** The escrow table from the spec, written out independently of domain/governance/escrow.ts. */
const LEGAL_MOVES: Record<string, readonly EscrowResolver[]> = {
  "pending>released": ["api", "judge"],
  "pending>disputed": ["api", "judge"],
  "pending>refunded": ["timeout", "judge"],
  "disputed>released": ["judge"],
  "disputed>refunded": ["judge"],
};
const isFinal = (status: EscrowStatus) => status === "released" || status === "refunded";

function auditInput(overrides: Partial<AuditEntryInput> = {}): AuditEntryInput {
  return {
    action: "escrow_created",
    agent_id: "agent-audit",
    resource: "escrow:test",
    actor: "system:projector",
    success: true,
    cost: "10.25",
    details: { task_id: "t-1", nested: { b: 2, a: [1, "x", { z: true, y: null }] } },
    occurred_at: at(0),
    ...overrides,
  };
}

function snapshot(agentId: string, overrides: Partial<AgentSnapshot> = {}): AgentSnapshot {
  return {
    agent_id: agentId,
    bidding_endpoint: `https://${agentId}.example/bid`,
    endpoint_kind: "https",
    status: "active",
    kill_switch_active: false,
    outcomes: 4,
    successes: 3,
    quality_micros: 3_200_000,
    profile_version: 1,
    updated_at: at(0),
    ...overrides,
  };
}

/**
 * The behaviour every {@link GovernanceStore} adapter must show, run once per database. `open` gives
 * a migrated, empty store; the suite shares it between tests and isolates them by unique ids.
 */
export function describeGovernanceStoreContract(
  label: string,
  open: () => Promise<TestGovernanceStore>,
): void {
  describe(`GovernanceStore contract (${label})`, () => {
    let fx: TestGovernanceStore;

    beforeAll(async () => {
      fx = await open();
    });

    afterAll(async () => {
      await fx?.dispose();
    });

    const appendMany = (count: number, overrides: Partial<AuditEntryInput> = {}) =>
      fx.store.transaction(async (tx) => {
        const rows: AuditEntry[] = [];
        for (let i = 0; i < count; i += 1) {
          rows.push(await tx.audit.append(auditInput({ ...overrides, occurred_at: at(i) })));
        }
        return rows;
      });

    /** Runs raw statements with user triggers off, as a superuser could, then restores them. */
    const asSuperuser = (statements: Array<[string, unknown[]?]>) =>
      fx.client.transaction(async (tx) => {
        await tx.query("SET LOCAL session_replication_role = replica");
        for (const [text, params] of statements) await tx.query(text, params ?? []);
      });

    /** Puts audit rows back exactly as they were (by seq), undoing any tampering. */
    const restoreAuditRows = (rows: AuditEntry[]) =>
      asSuperuser(
        rows.flatMap(
          (row): Array<[string, unknown[]]> => [
            ["DELETE FROM audit_logs WHERE seq = $1", [row.seq]],
            [
              `INSERT INTO audit_logs (seq, agent_id, action, resource, actor, success, cost, details, occurred_at, prev_hash, signature, key_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12)`,
              [
                row.seq,
                row.agent_id,
                row.action,
                row.resource,
                row.actor,
                row.success,
                row.cost,
                JSON.stringify(row.details),
                row.occurred_at,
                row.prev_hash,
                row.signature,
                row.key_id ?? null,
              ],
            ],
          ],
        ),
      );

    const rawAudit = () =>
      fx.client.query<{ seq: unknown; actor: string; details: unknown; signature: string }>(
        "SELECT seq, actor, details, signature FROM audit_logs ORDER BY seq",
      );

    describe("audit log", () => {
      it("appends from 20 concurrent transactions form one gapless, verifiable chain", async () => {
        const before = await fx.store.verifyAudit({ full: true });
        expect(before.ok).toBe(true);
        const base = before.ok ? before.rows : 0;

        const appended = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            fx.store.transaction((tx) => tx.audit.append(auditInput({ resource: `concurrent:${i}` }))),
          ),
        );

        const seqs = appended.map((row) => row.seq).sort((a, b) => a - b);
        expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => base + i + 1));
        const rows = await fx.store.listAudit({ afterSeq: base, limit: 20 });
        expect(rows.map((row) => row.seq)).toEqual(seqs);
        const [previous] = base === 0 ? [] : await fx.store.listAudit({ afterSeq: base - 1, limit: 1 });
        const links = [previous?.signature ?? GENESIS_HASH, ...rows.map((row) => row.signature)];
        expect(rows.map((row) => row.prev_hash)).toEqual(links.slice(0, 20));
        expect(await fx.store.verifyAudit({ full: true })).toEqual(intact(base + 20));
      });

      it("returns the stored row, normalised and signed over its canonical content", async () => {
        const [last] = (await fx.store.listAudit({ afterSeq: 0, limit: 1000 })).slice(-1);
        const agentId = uid("agent-norm");

        const entry = await fx.store.transaction((tx) =>
          tx.audit.append(
            auditInput({
              agent_id: agentId,
              cost: "12.5",
              occurred_at: "2030-01-01T00:00:00Z",
              details: { z: 1, a: { y: 2, b: [1, { d: 1, c: 2 }] } },
            }),
          ),
        );

        expect(entry).toMatchObject({
          agent_id: agentId,
          cost: "12.500000",
          occurred_at: "2030-01-01T00:00:00.000Z",
          details: { a: { b: [1, { c: 2, d: 1 }], y: 2 }, z: 1 },
          prev_hash: last?.signature ?? GENESIS_HASH,
        });
        expect(entry.seq).toBe((last?.seq ?? 0) + 1);
        expect(entry.signature).toBe(
          signAuditRow(fx.auditKey, canonicalAuditContent(entry), entry.prev_hash),
        );
        expect(await fx.store.listAudit({ agentId })).toEqual([entry]);
      });

      it("lists rows for one agent, after a seq, up to a limit", async () => {
        const agentId = uid("agent-list");
        const rows = await appendMany(4, { agent_id: agentId });

        const all = await fx.store.listAudit({ agentId });
        const page = await fx.store.listAudit({ agentId, afterSeq: rows[0]?.seq ?? 0, limit: 2 });

        expect(all.map((row) => row.seq)).toEqual(rows.map((row) => row.seq));
        expect(page.map((row) => row.seq)).toEqual(rows.slice(1, 3).map((row) => row.seq));
      });

      it("refuses UPDATE, DELETE and TRUNCATE on audit_logs and leaves the rows unchanged", async () => {
        await appendMany(2, { agent_id: uid("agent-ro") });
        const before = await rawAudit();

        for (const statement of [
          "UPDATE audit_logs SET actor = 'mallory'",
          "DELETE FROM audit_logs",
          "TRUNCATE audit_logs",
        ]) {
          await expect(fx.client.query(statement)).rejects.toMatchObject({
            code: SQLSTATE_APPEND_ONLY,
            message: expect.stringContaining("audit_logs is append-only"),
          });
        }

        expect(await rawAudit()).toEqual(before);
        expect((await fx.store.verifyAudit()).ok).toBe(true);
      });

      // The full walk finds tampering anywhere. The incremental one finds it at or after its
      // checkpoint, so there the chain is verified (checkpoint at its end) before the rows are added.
      describe.each(["full", "incremental"] as const)("tamper detection (%s walk)", (mode) => {
        const verify = () => fx.store.verifyAudit(mode === "full" ? { full: true } : {});

        /** Three fresh rows at the end of the chain, which must verify before each test tampers. */
        const seedChain = async () => {
          expect(await verify()).toMatchObject({ ok: true, complete: true });
          const rows = await appendMany(3, { agent_id: uid("agent-tamper") });
          if (mode === "full") expect(await verify()).toMatchObject({ ok: true });
          return rows as [AuditEntry, AuditEntry, AuditEntry];
        };

        it.each([
          [
            "details only",
            "UPDATE audit_logs SET details = details || '{\"tampered\": true}'::jsonb WHERE seq = $1",
          ],
          ["actor", "UPDATE audit_logs SET actor = 'api:mallory' WHERE seq = $1"],
          ["success", "UPDATE audit_logs SET success = NOT success WHERE seq = $1"],
          ["cost", "UPDATE audit_logs SET cost = cost + 0.000001 WHERE seq = $1"],
          [
            "occurred_at",
            "UPDATE audit_logs SET occurred_at = occurred_at + interval '1 millisecond' WHERE seq = $1",
          ],
          ["signature", "UPDATE audit_logs SET signature = repeat('a', 64) WHERE seq = $1"],
        ])("reports the row whose %s was edited", async (_column, statement) => {
          const [, middle] = await seedChain();
          try {
            await asSuperuser([[statement, [middle.seq]]]);

            expect(await verify()).toEqual(brokenAt(middle.seq));
          } finally {
            await restoreAuditRows([middle]);
          }
          expect((await verify()).ok).toBe(true);
        });

        it("reports the row after a deleted middle row", async () => {
          const [, middle, last] = await seedChain();
          try {
            await asSuperuser([["DELETE FROM audit_logs WHERE seq = $1", [middle.seq]]]);

            expect(await verify()).toEqual(
              brokenAt(last.seq, middle.seq - 1, expect.stringContaining("missing")),
            );
          } finally {
            await restoreAuditRows([middle]);
          }
          expect((await verify()).ok).toBe(true);
        });

        it("detects a deleted last row through the chain head", async () => {
          const [, , last] = await seedChain();
          try {
            await asSuperuser([["DELETE FROM audit_logs WHERE seq = $1", [last.seq]]]);

            expect(await verify()).toEqual(
              brokenAt(last.seq, last.seq - 1, expect.stringContaining("removed")),
            );
          } finally {
            await restoreAuditRows([last]);
          }
          expect((await verify()).ok).toBe(true);
        });

        it("detects two rows whose seq values were swapped, at the first of them", async () => {
          const [first, second] = await seedChain();
          try {
            await asSuperuser([
              ["UPDATE audit_logs SET seq = 999999999999 WHERE seq = $1", [first.seq]],
              ["UPDATE audit_logs SET seq = $1 WHERE seq = $2", [first.seq, second.seq]],
              ["UPDATE audit_logs SET seq = $1 WHERE seq = 999999999999", [second.seq]],
            ]);

            expect(await verify()).toMatchObject({
              ok: false,
              rows_checked: first.seq - 1,
              first_bad_seq: first.seq,
            });
          } finally {
            await restoreAuditRows([first, second]);
          }
          expect((await verify()).ok).toBe(true);
        });

        it("detects two rows whose contents were swapped, at the first of them", async () => {
          const [first, second] = await seedChain();
          try {
            await asSuperuser([
              [
                `UPDATE audit_logs a SET agent_id = b.agent_id, action = b.action, resource = b.resource,
                   actor = b.actor, success = b.success, cost = b.cost, details = b.details,
                   occurred_at = b.occurred_at, prev_hash = b.prev_hash, signature = b.signature
                 FROM audit_logs b
                 WHERE (a.seq = $1 AND b.seq = $2) OR (a.seq = $2 AND b.seq = $1)`,
                [first.seq, second.seq],
              ],
            ]);
            expect((await fx.store.listAudit({ afterSeq: first.seq - 1, limit: 1 }))[0]?.signature).toBe(
              second.signature,
            );

            expect(await verify()).toMatchObject({ ok: false, first_bad_seq: first.seq });
          } finally {
            await restoreAuditRows([first, second]);
          }
          expect((await verify()).ok).toBe(true);
        });

        it("detects a row inserted after the chain head without an append", async () => {
          const [, , last] = await seedChain();
          const forged = { ...last, seq: last.seq + 1, prev_hash: last.signature, resource: "forged" };
          try {
            await restoreAuditRows([forged]);

            expect(await verify()).toMatchObject({
              ok: false,
              first_bad_seq: last.seq + 1,
            });
          } finally {
            await asSuperuser([["DELETE FROM audit_logs WHERE seq = $1", [forged.seq]]]);
          }
          expect((await verify()).ok).toBe(true);
        });
      });

      describe("incremental verification", () => {
        const checkpointSeq = async () => {
          const [row] = await fx.client.query<{ seq: unknown }>(
            "SELECT seq FROM audit_verification_checkpoint WHERE id = 1",
          );
          return row ? Number(row.seq) : undefined;
        };
        /** Verifies everything so far, so the checkpoint is at the head; returns the head's seq. */
        const checkpointAtHead = async () => {
          const result = await fx.store.verifyAudit();
          expect(result).toMatchObject({ ok: true, complete: true });
          expect(await checkpointSeq()).toBe(result.verified_through);
          return result.verified_through;
        };
        /** One page per call (budget 0): the contract's stores read 7 rows a page. */
        const onePage = () => fx.store.verifyAudit({ budgetMs: 0 });

        it("resumes where it stopped, one page per call with a zero budget, until complete", async () => {
          const start = await checkpointAtHead();
          await appendMany(30, { agent_id: uid("agent-resume") });
          const head = start + 30;

          const calls = [];
          let result = await onePage();
          calls.push(result);
          while (result.ok && !result.complete && calls.length < 100) {
            expect(await checkpointSeq()).toBe(result.verified_through);
            result = await onePage();
            calls.push(result);
          }

          expect(calls.length).toBeGreaterThan(3);
          const through = calls.map((call) => call.verified_through);
          expect(through).toEqual([...through].sort((a, b) => a - b));
          expect(new Set(through).size).toBe(through.length);
          // The first page starts at the checkpoint row itself (checked again) and reads 7 rows.
          expect(calls[0]).toEqual(intact(start + 6, false));
          expect(result).toEqual(intact(head));
          expect(await checkpointSeq()).toBe(head);
          expect(await fx.store.verifyAudit({ full: true })).toEqual(result);
        });

        it.each([
          ["actor", "UPDATE audit_logs SET actor = 'api:mallory' WHERE seq = $1"],
          ["signature", "UPDATE audit_logs SET signature = repeat('b', 64) WHERE seq = $1"],
          ["prev_hash", "UPDATE audit_logs SET prev_hash = repeat('c', 64) WHERE seq = $1"],
        ])("detects an edit of the checkpoint row's %s made after it was verified", async (_c, statement) => {
          await appendMany(2, { agent_id: uid("agent-cp") });
          const seq = await checkpointAtHead();
          const [row] = await fx.store.listAudit({ afterSeq: seq - 1, limit: 1 });
          try {
            await asSuperuser([[statement, [seq]]]);

            expect(await fx.store.verifyAudit()).toEqual(brokenAt(seq));
            expect(await checkpointSeq()).toBe(seq);
          } finally {
            await restoreAuditRows([row as AuditEntry]);
          }
          expect(await fx.store.verifyAudit()).toMatchObject({ ok: true, verified_through: seq });
        });

        it("detects a checkpoint row re-signed with the key: its signature is not the one verified", async () => {
          const [previous] = await appendMany(2, { agent_id: uid("agent-resign") });
          const seq = await checkpointAtHead();
          const [row] = (await fx.store.listAudit({ afterSeq: seq - 1, limit: 1 })) as [AuditEntry];
          // A forger holding the key rewrites the last row and the head to match: every link holds.
          const forged = { ...row, actor: "api:mallory" };
          forged.signature = signAuditRow(fx.auditKey, canonicalAuditContent(forged), forged.prev_hash);
          expect(forged.prev_hash).toBe(previous?.signature);
          try {
            await restoreAuditRows([forged]);
            await asSuperuser([
              ["UPDATE audit_chain_head SET last_hash = $1 WHERE id = 1", [forged.signature]],
            ]);

            expect(await fx.store.verifyAudit()).toMatchObject({
              ok: false,
              first_bad_seq: seq,
              reason: expect.stringContaining("signature changed"),
            });
          } finally {
            await restoreAuditRows([row]);
            await asSuperuser([["UPDATE audit_chain_head SET last_hash = $1 WHERE id = 1", [row.signature]]]);
          }
          expect(await fx.store.verifyAudit()).toMatchObject({ ok: true, verified_through: seq });
        });

        it("detects a deleted checkpoint row even when the head was rewound to hide it", async () => {
          const [previous] = await appendMany(2, { agent_id: uid("agent-rewind") });
          const seq = await checkpointAtHead();
          const [row] = (await fx.store.listAudit({ afterSeq: seq - 1, limit: 1 })) as [AuditEntry];
          try {
            await asSuperuser([
              ["DELETE FROM audit_logs WHERE seq = $1", [seq]],
              [
                "UPDATE audit_chain_head SET seq = $1, last_hash = $2 WHERE id = 1",
                [seq - 1, previous?.signature],
              ],
            ]);

            expect(await fx.store.verifyAudit()).toMatchObject({ ok: false, first_bad_seq: seq });
          } finally {
            await restoreAuditRows([row]);
            await asSuperuser([
              ["UPDATE audit_chain_head SET seq = $1, last_hash = $2 WHERE id = 1", [seq, row.signature]],
            ]);
          }
          expect(await fx.store.verifyAudit()).toMatchObject({ ok: true, verified_through: seq });
        });

        it("detects tampering after the checkpoint; an edit before it takes the full walk", async () => {
          const [before] = await appendMany(2, { agent_id: uid("agent-before") });
          const start = await checkpointAtHead();
          const after = await appendMany(5, { agent_id: uid("agent-after") });
          const target = after[2] as AuditEntry;
          try {
            await asSuperuser([
              ["UPDATE audit_logs SET actor = 'api:mallory' WHERE seq = $1", [target.seq]],
              ["UPDATE audit_logs SET actor = 'api:mallory' WHERE seq = $1", [before?.seq]],
            ]);

            expect(await fx.store.verifyAudit()).toMatchObject({
              ok: false,
              first_bad_seq: target.seq,
              rows_checked: target.seq - 1,
            });
            expect(await fx.store.verifyAudit({ full: true })).toMatchObject({
              ok: false,
              first_bad_seq: before?.seq,
            });
            expect(await checkpointSeq()).toBe(start);
          } finally {
            await restoreAuditRows([before as AuditEntry, target]);
          }
          expect(await fx.store.verifyAudit({ full: true })).toMatchObject({ ok: true, complete: true });
        });

        it("never advances the checkpoint on a broken chain, however often it is called", async () => {
          const start = await checkpointAtHead();
          // Pages from the checkpoint: [start .. start+6], [start+7 .. start+13], ...
          const rows = await appendMany(20, { agent_id: uid("agent-stuck") });
          const target = rows[9] as AuditEntry;
          expect(target.seq).toBe(start + 10);
          try {
            await asSuperuser([["UPDATE audit_logs SET success = NOT success WHERE seq = $1", [target.seq]]]);

            // The first page is intact: its rows count, and the checkpoint moves over them only.
            expect(await onePage()).toMatchObject({ ok: true, verified_through: start + 6, complete: false });
            expect(await checkpointSeq()).toBe(start + 6);
            for (let call = 0; call < 3; call += 1) {
              expect(await onePage()).toEqual(brokenAt(target.seq));
              expect(await checkpointSeq()).toBe(start + 6);
            }
            expect(await fx.store.verifyAudit({ full: true })).toMatchObject({ first_bad_seq: target.seq });
            expect(await checkpointSeq()).toBe(start + 6);
          } finally {
            await restoreAuditRows([target]);
          }
          expect(await fx.store.verifyAudit()).toMatchObject({ ok: true, complete: true });
          expect(await checkpointSeq()).toBe(start + 20);
        });

        it("ignores a forged checkpoint and walks from seq 1, then replaces it", async () => {
          const [early] = await fx.store.listAudit({ limit: 1 });
          const head = await checkpointAtHead();
          const saved = await fx.client.query("SELECT * FROM audit_verification_checkpoint");
          try {
            // Tampering an early row, then pointing the checkpoint at the head to hide it: the MAC
            // does not match, so the walk starts over and finds the row.
            await asSuperuser([
              ["UPDATE audit_logs SET actor = 'api:mallory' WHERE seq = $1", [early?.seq]],
              ["UPDATE audit_verification_checkpoint SET verified_at = verified_at + interval '1 day'"],
            ]);
            expect(await fx.store.verifyAudit()).toMatchObject({ ok: false, first_bad_seq: early?.seq });

            await restoreAuditRows([early as AuditEntry]);
            expect(await fx.store.verifyAudit()).toEqual(intact(head));
            expect(await fx.client.query("SELECT * FROM audit_verification_checkpoint")).not.toEqual(saved);
            // A genuine checkpoint at the head again: one page from it reaches the head.
            expect(head).toBeGreaterThan(7);
            expect(await onePage()).toMatchObject({ ok: true, verified_through: head, complete: true });
          } finally {
            await restoreAuditRows([early as AuditEntry]);
          }
        });
      });
    });

    describe("escrows", () => {
      const newEscrow = (overrides: Partial<NewEscrow> = {}): NewEscrow => ({
        id: randomUUID(),
        task_id: uid("https://github.com/acme/app/issues"),
        agent_id: uid("agent-escrow"),
        worker_wallet: "0xabc",
        amount: "120.5",
        task_description: "Fix the flaky test",
        created_at: at(0),
        ...overrides,
      });

      /** A new escrow moved (by a judge) into `status`. */
      const escrowIn = async (status: EscrowStatus): Promise<Escrow> => {
        const { escrow } = await fx.store.transaction((tx) => tx.escrows.create(newEscrow()));
        if (status === "pending") return escrow;
        return fx.store.transaction((tx) => tx.escrows.transition(escrow.id, status, "judge", at(10)));
      };

      it("creates an escrow once and returns the stored row on a repeat", async () => {
        const input = newEscrow();

        const first = await fx.store.transaction((tx) => tx.escrows.create(input));
        const again = await fx.store.transaction((tx) => tx.escrows.create({ ...input, amount: "999" }));

        expect(first).toEqual({
          created: true,
          escrow: {
            ...input,
            amount: "120.500000",
            status: "pending",
            settled_at: null,
            resolved_by: null,
            updated_at: at(0),
          },
        });
        expect(again).toEqual({ created: false, escrow: first.escrow });
        expect(await fx.store.transaction((tx) => tx.escrows.get(input.id))).toEqual(first.escrow);
      });

      it("refuses a second escrow for the same task and agent under another id", async () => {
        const input = newEscrow();
        await fx.store.transaction((tx) => tx.escrows.create(input));

        await expect(
          fx.store.transaction((tx) => tx.escrows.create({ ...input, id: randomUUID() })),
        ).rejects.toBeInstanceOf(ConflictError);
      });

      it("returns undefined for an unknown or malformed id and NotFoundError when moving one", async () => {
        await expect(fx.store.transaction((tx) => tx.escrows.get(randomUUID()))).resolves.toBeUndefined();
        await expect(
          fx.store.transaction((tx) => tx.escrows.getForUpdate("not-a-uuid")),
        ).resolves.toBeUndefined();
        await expect(
          fx.store.transaction((tx) => tx.escrows.transition(randomUUID(), "released", "judge", at(1))),
        ).rejects.toBeInstanceOf(NotFoundError);
      });

      const combinations = STATUSES.flatMap((from) =>
        STATUSES.flatMap((to) =>
          RESOLVERS.map((by) => ({
            from,
            to,
            by,
            legal: LEGAL_MOVES[`${from}>${to}`]?.includes(by) ?? false,
          })),
        ),
      );

      it.for(combinations.filter((c) => c.legal))("$from → $to by $by succeeds", async ({ from, to, by }) => {
        const start = await escrowIn(from);

        const moved = await fx.store.transaction((tx) => tx.escrows.transition(start.id, to, by, at(20)));

        expect(moved).toEqual({
          ...start,
          status: to,
          settled_at: isFinal(to) ? at(20) : null,
          resolved_by: isFinal(to) ? by : null,
          updated_at: at(20),
        });
        expect(await fx.store.transaction((tx) => tx.escrows.get(start.id))).toEqual(moved);
      });

      it.for(combinations.filter((c) => !c.legal))(
        "$from → $to by $by is a ConflictError and changes nothing",
        async ({ from, to, by }) => {
          const start = await escrowIn(from);

          const error = await fx.store
            .transaction((tx) => tx.escrows.transition(start.id, to, by, at(20)))
            .catch((e: unknown) => e);

          expect(error).toBeInstanceOf(ConflictError);
          expect((error as ConflictError).details).toMatchObject({ reason: "ILLEGAL_TRANSITION" });
          expect(await fx.store.transaction((tx) => tx.escrows.get(start.id))).toEqual(start);
        },
      );

      it("lets exactly one of two racing settlements win", async () => {
        const start = await escrowIn("pending");

        const results = await Promise.allSettled([
          fx.store.transaction((tx) => tx.escrows.transition(start.id, "released", "api", at(30))),
          fx.store.transaction((tx) => tx.escrows.transition(start.id, "refunded", "timeout", at(30))),
        ]);

        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const rejected = results.find((r) => r.status === "rejected");
        expect(rejected?.status === "rejected" && rejected.reason).toBeInstanceOf(ConflictError);
        const stored = await fx.store.transaction((tx) => tx.escrows.get(start.id));
        expect(["released", "refunded"]).toContain(stored?.status);
      });

      it.for([
        { from: "released", set: "status = 'pending'" },
        { from: "released", set: "status = 'disputed'" },
        { from: "refunded", set: "status = 'released'" },
        { from: "released", set: "worker_wallet = '0xmallory'" },
        { from: "disputed", set: "status = 'pending'" },
      ] as const)("the trigger refuses a raw UPDATE of a $from escrow: SET $set", async ({ from, set }) => {
        const start = await escrowIn(from);

        await expect(
          fx.client.query(`UPDATE escrows SET ${set} WHERE id = $1`, [start.id]),
        ).rejects.toMatchObject({
          code: SQLSTATE_ILLEGAL_TRANSITION,
        });

        expect(await fx.store.transaction((tx) => tx.escrows.get(start.id))).toEqual(start);
      });

      it("the database allows a raw pending → disputed move but not a final one without settlement", async () => {
        const start = await escrowIn("pending");

        await fx.client.query("UPDATE escrows SET status = 'disputed' WHERE id = $1", [start.id]);
        await expect(
          fx.client.query("UPDATE escrows SET status = 'released' WHERE id = $1", [start.id]),
        ).rejects.toMatchObject({ code: "23514" });
        await expect(
          fx.client.query(
            `INSERT INTO escrows (id, task_id, agent_id, amount, status, settled_at, resolved_by, created_at, updated_at)
             VALUES ($1, 'raw-task', 'raw-agent', 1, 'released', now(), 'judge', now(), now())`,
            [randomUUID()],
          ),
        ).rejects.toMatchObject({ code: SQLSTATE_ILLEGAL_TRANSITION });

        expect((await fx.store.transaction((tx) => tx.escrows.get(start.id)))?.status).toBe("disputed");
      });

      it("lists escrows by task, agent and status, and pending ones past a deadline oldest first", async () => {
        const agentId = uid("agent-expiry");
        const created = await fx.store.transaction(async (tx) => {
          const rows: Escrow[] = [];
          for (const day of ["03", "01", "02"]) {
            const { escrow } = await tx.escrows.create(
              newEscrow({ agent_id: agentId, created_at: `2001-01-${day}T00:00:00.000Z` }),
            );
            rows.push(escrow);
          }
          return rows;
        });
        const [jan3, jan1, jan2] = created as [Escrow, Escrow, Escrow];
        await fx.store.transaction((tx) => tx.escrows.transition(jan1.id, "released", "api", at(1)));

        const expired = await fx.store.listExpiredEscrows("2001-02-01T00:00:00.000Z", 10);
        const firstOnly = await fx.store.listExpiredEscrows("2001-02-01T00:00:00.000Z", 1);
        const byAgent = (await fx.store.listEscrows({ agentId })).items;
        const byTask = (await fx.store.listEscrows({ taskId: jan2.task_id })).items;
        const releasedForAgent = (await fx.store.listEscrows({ agentId, status: "released" })).items;

        expect(expired.map((e) => e.id)).toEqual([jan2.id, jan3.id]);
        expect(firstOnly.map((e) => e.id)).toEqual([jan2.id]);
        expect(byAgent.map((e) => e.id)).toEqual([jan1.id, jan2.id, jan3.id]);
        expect(byTask).toEqual([jan2]);
        expect(releasedForAgent.map((e) => [e.id, e.status])).toEqual([[jan1.id, "released"]]);
      });

      it("pages escrows by (created_at, id) under every filter, with bounded limits", async () => {
        const agentId = uid("agent-pages");
        // Two share a created_at, so the id breaks the tie.
        const times = ["2002-01-02", "2002-01-01", "2002-01-02", "2002-01-03", "2002-01-01"];
        const created = await fx.store.transaction(async (tx) => {
          const rows: Escrow[] = [];
          for (const day of times) {
            rows.push(
              (await tx.escrows.create(newEscrow({ agent_id: agentId, created_at: `${day}T00:00:00.000Z` })))
                .escrow,
            );
          }
          return rows;
        });
        await fx.store.transaction((tx) =>
          tx.escrows.transition(created[3]?.id as string, "disputed", "api", at(1)),
        );
        const order = [...created].sort(
          (a, b) => a.created_at.localeCompare(b.created_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
        );
        const walk = async (filter: Parameters<typeof fx.store.listEscrows>[0], limit: number) => {
          const ids: string[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await fx.store.listEscrows(filter, { limit, ...(cursor ? { cursor } : {}) });
            expect(page.items.length).toBeLessThanOrEqual(limit);
            ids.push(...page.items.map((e) => e.id));
            cursor = page.cursor;
            pages += 1;
          } while (cursor && pages < 1000);
          return { ids, pages };
        };

        expect(await walk({ agentId }, 2)).toEqual({ ids: order.map((e) => e.id), pages: 3 });
        expect((await walk({ agentId }, 5)).pages).toBe(1);
        expect((await walk({ agentId, status: "pending" }, 1)).ids).toEqual(
          order.filter((e) => e.id !== created[3]?.id).map((e) => e.id),
        );
        const everything = await walk({}, 100);
        expect(everything.ids.filter((id) => order.some((e) => e.id === id))).toEqual(order.map((e) => e.id));
        expect(new Set(everything.ids).size).toBe(everything.ids.length);
        // Limits are clamped to 1..100; a limit of 0 still returns a page.
        expect((await fx.store.listEscrows({ agentId }, { limit: 0 })).items).toHaveLength(1);
        expect((await fx.store.listEscrows({}, { limit: 10_000 })).items.length).toBeLessThanOrEqual(100);
      });

      it("refuses foreign, malformed and tampered escrow cursors and control characters in filters", async () => {
        const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
        const { escrow } = await fx.store.transaction((tx) => tx.escrows.create(newEscrow()));
        const valid = { k: "escrows", at: escrow.created_at, id: escrow.id };
        const cursors = [
          "%%%",
          "bm90LWpzb24",
          "x".repeat(513),
          encode({ k: "approvals", at: escrow.created_at, id: escrow.id }),
          encode({ ...valid, id: "not-a-uuid" }),
          encode({ ...valid, id: `${escrow.id}\u0000` }),
          encode({ ...valid, at: "2030-01-01" }),
          encode({ ...valid, at: "\u0000" }),
          encode([valid]),
        ];
        for (const cursor of cursors) {
          await expect(fx.store.listEscrows({}, { cursor })).rejects.toBeInstanceOf(ValidationError);
        }
        expect(
          (await fx.store.listEscrows({}, { cursor: encode(valid) })).items.map((e) => e.id),
        ).not.toContain(escrow.id);
        for (const filter of [
          { taskId: "\u0000" },
          { agentId: "a\u001fb" },
          { taskId: "\u007f" },
          { agentId: "" },
        ]) {
          await expect(fx.store.listEscrows(filter)).rejects.toBeInstanceOf(ValidationError);
        }
        await expect(fx.store.listEscrows({ status: "burnt" as EscrowStatus })).rejects.toBeInstanceOf(
          ValidationError,
        );
        await expect(fx.store.listAudit({ agentId: "\u0000" })).rejects.toBeInstanceOf(ValidationError);
      });
    });

    describe("applyOnce", () => {
      const auditFor = async (resource: string) =>
        (await fx.store.listAudit({ limit: 1000 })).filter((row) => row.resource === resource);

      it("applies a key once; the repeat returns false without calling fn", async () => {
        const key = uid("event");
        let calls = 0;
        const fn = async (tx: GovernanceTx) => {
          calls += 1;
          await tx.audit.append(auditInput({ resource: key }));
        };

        expect(await fx.store.wasApplied(key)).toBe(false);
        expect(await fx.store.applyOnce(key, fn)).toBe(true);
        expect(await fx.store.applyOnce(key, fn)).toBe(false);

        expect(calls).toBe(1);
        expect(await fx.store.wasApplied(key)).toBe(true);
        expect(await auditFor(key)).toHaveLength(1);
      });

      it("rolls back the key and fn's writes when fn throws, so a retry applies", async () => {
        const key = uid("event");
        const approvalId = uid("approval");
        const request = {
          id: approvalId,
          task_id: "task-rollback",
          agent_id: "agent-rollback",
          bid_amount: "5",
          reason: "AMOUNT_ABOVE_THRESHOLD",
          requested_at: at(0),
        };

        await expect(
          fx.store.applyOnce(key, async (tx) => {
            await tx.approvals.create(request);
            await tx.audit.append(auditInput({ resource: key }));
            throw new Error("projection failed");
          }),
        ).rejects.toThrow("projection failed");

        expect(await fx.store.wasApplied(key)).toBe(false);
        expect(await fx.store.transaction((tx) => tx.approvals.get(approvalId))).toBeUndefined();
        expect(await auditFor(key)).toEqual([]);
        expect((await fx.store.verifyAudit()).ok).toBe(true);

        expect(
          await fx.store.applyOnce(key, async (tx) => {
            await tx.approvals.create(request);
          }),
        ).toBe(true);
        expect((await fx.store.transaction((tx) => tx.approvals.get(approvalId)))?.status).toBe("pending");
      });

      it("applies exactly once under 10 concurrent deliveries of the same key", async () => {
        const key = uid("event");
        let calls = 0;

        const results = await Promise.all(
          Array.from({ length: 10 }, () =>
            fx.store.applyOnce(key, async (tx) => {
              calls += 1;
              await tx.audit.append(auditInput({ resource: key }));
            }),
          ),
        );

        expect(results.filter(Boolean)).toHaveLength(1);
        expect(calls).toBe(1);
        expect(await auditFor(key)).toHaveLength(1);
      });
    });

    describe("agents", () => {
      it("inserts with default trust and ignores an older snapshot", async () => {
        const agentId = uid("agent-upsert");

        const v2 = await fx.store.transaction((tx) =>
          tx.agents.upsert(snapshot(agentId, { profile_version: 2 }), at(2)),
        );
        const older = await fx.store.transaction((tx) =>
          tx.agents.upsert(
            snapshot(agentId, { profile_version: 1, bidding_endpoint: "https://old.example" }),
            at(3),
          ),
        );

        const expected = {
          ...snapshot(agentId, { profile_version: 2 }),
          trust_score: 50,
          audit_level: "Silver",
          last_probe_score: null,
          updated_at: at(2),
        };
        expect(v2).toEqual(expected);
        expect(older).toEqual(expected);
        expect(await fx.store.transaction((tx) => tx.agents.get(agentId))).toEqual(expected);
      });

      it("applies a snapshot of the same or a newer version without touching trust", async () => {
        const agentId = uid("agent-trust");
        await fx.store.transaction((tx) =>
          tx.agents.upsert(snapshot(agentId, { profile_version: 1 }), at(1)),
        );
        await fx.store.transaction((tx) =>
          tx.agents.setTrust(agentId, { trust_score: 82, audit_level: "Gold", last_probe_score: 90 }, at(2)),
        );

        const same = await fx.store.transaction((tx) =>
          tx.agents.upsert(snapshot(agentId, { profile_version: 1, kill_switch_active: true }), at(3)),
        );
        const newer = await fx.store.transaction((tx) =>
          tx.agents.upsert(
            snapshot(agentId, { profile_version: 5, outcomes: 10, quality_micros: 9_000_000 }),
            at(4),
          ),
        );

        expect(same).toMatchObject({
          kill_switch_active: true,
          trust_score: 82,
          audit_level: "Gold",
          last_probe_score: 90,
        });
        expect(newer).toMatchObject({
          profile_version: 5,
          outcomes: 10,
          quality_micros: 9_000_000,
          kill_switch_active: false,
          trust_score: 82,
          audit_level: "Gold",
          last_probe_score: 90,
          updated_at: at(4),
        });
      });

      it("setTrust keeps last_probe_score unless it is given, and clears it with null", async () => {
        const agentId = uid("agent-probe");
        await fx.store.transaction((tx) => tx.agents.upsert(snapshot(agentId), at(1)));

        const scored = await fx.store.transaction((tx) =>
          tx.agents.setTrust(
            agentId,
            { trust_score: 70, audit_level: "Silver", last_probe_score: 64 },
            at(2),
          ),
        );
        const kept = await fx.store.transaction((tx) =>
          tx.agents.setTrust(agentId, { trust_score: 20, audit_level: "Bronze" }, at(3)),
        );
        const cleared = await fx.store.transaction((tx) =>
          tx.agents.setTrust(
            agentId,
            { trust_score: 20, audit_level: "Bronze", last_probe_score: null },
            at(4),
          ),
        );

        expect([scored.trust_score, scored.audit_level, scored.last_probe_score]).toEqual([70, "Silver", 64]);
        expect([kept.trust_score, kept.audit_level, kept.last_probe_score, kept.updated_at]).toEqual([
          20,
          "Bronze",
          64,
          at(3),
        ]);
        expect(cleared.last_probe_score).toBeNull();
        expect(cleared.outcomes).toBe(4);
      });

      it("setTrust refuses an unknown agent and an out-of-range score", async () => {
        await expect(
          fx.store.transaction((tx) =>
            tx.agents.setTrust(uid("nobody"), { trust_score: 50, audit_level: "Gold" }, at(1)),
          ),
        ).rejects.toBeInstanceOf(NotFoundError);
        const agentId = uid("agent-range");
        await fx.store.transaction((tx) => tx.agents.upsert(snapshot(agentId), at(1)));
        await expect(
          fx.store.transaction((tx) =>
            tx.agents.setTrust(agentId, { trust_score: 101, audit_level: "Gold" }, at(2)),
          ),
        ).rejects.toBeInstanceOf(ValidationError);
      });

      it("pages probe targets: active, not kill-switched, ordered by id", async () => {
        const prefix = uid("probe");
        const ids = ["a", "b", "c", "d", "e"].map((s) => `${prefix}-${s}`);
        await fx.store.transaction(async (tx) => {
          await tx.agents.upsert(snapshot(ids[0] as string), at(1));
          await tx.agents.upsert(snapshot(ids[1] as string, { status: "suspended" }), at(1));
          await tx.agents.upsert(snapshot(ids[2] as string), at(1));
          await tx.agents.upsert(snapshot(ids[3] as string, { kill_switch_active: true }), at(1));
          await tx.agents.upsert(snapshot(ids[4] as string), at(1));
        });

        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await fx.store.listProbeTargets({ limit: 2, ...(cursor ? { cursor } : {}) });
          expect(page.items.length).toBeLessThanOrEqual(2);
          for (const agent of page.items) {
            expect(agent.status).toBe("active");
            expect(agent.kill_switch_active).toBe(false);
            seen.push(agent.agent_id);
          }
          cursor = page.cursor;
          pages += 1;
        } while (cursor && pages < 1000);

        expect(seen).toEqual([...seen].sort());
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.filter((id) => id.startsWith(prefix))).toEqual([ids[0], ids[2], ids[4]]);
        await expect(fx.store.listProbeTargets({ cursor: "bm90LWEtY3Vyc29y" })).rejects.toBeInstanceOf(
          ValidationError,
        );
      });
    });

    describe("health", () => {
      it("averages the metrics recorded at or after `since`", async () => {
        const agentId = uid("agent-health");
        await fx.store.transaction(async (tx) => {
          await tx.health.record({
            agent_id: agentId,
            uptime_percentage: 0,
            error_rate: 1,
            avg_latency_ms: 9000,
            recorded_at: at(0),
          });
          await tx.health.record({
            agent_id: agentId,
            uptime_percentage: 100,
            error_rate: 0,
            avg_latency_ms: 100,
            recorded_at: at(10),
          });
          await tx.health.record({
            agent_id: agentId,
            uptime_percentage: 50,
            error_rate: 0.5,
            avg_latency_ms: 200,
            recorded_at: at(20),
          });
          await tx.health.record({
            agent_id: agentId,
            uptime_percentage: 90,
            error_rate: 0.25,
            avg_latency_ms: 300,
            recorded_at: at(30),
          });
        });

        const summary = await fx.store.transaction((tx) => tx.health.summary(agentId, at(10)));
        const none = await fx.store.transaction((tx) => tx.health.summary(agentId, at(31)));

        expect(summary?.samples).toBe(3);
        expect(summary?.uptime_percentage).toBeCloseTo(80, 9);
        expect(summary?.error_rate).toBeCloseTo(0.25, 9);
        expect(summary?.avg_latency_ms).toBeCloseTo(200, 9);
        expect(none).toBeUndefined();
      });

      it("refuses a metric out of range", async () => {
        await expect(
          fx.store.transaction((tx) =>
            tx.health.record({
              agent_id: "a",
              uptime_percentage: 50,
              error_rate: 1.5,
              avg_latency_ms: 1,
              recorded_at: at(0),
            }),
          ),
        ).rejects.toBeInstanceOf(ValidationError);
      });

      it("keeps each sample's source (default probe); delivery samples count for uptime, not latency", async () => {
        const agentId = uid("agent-health-source");
        const sample = (uptime: number, latency: number, source?: "probe" | "delivery") => ({
          agent_id: agentId,
          uptime_percentage: uptime,
          error_rate: uptime === 100 ? 0 : 1,
          avg_latency_ms: latency,
          recorded_at: at(1),
          ...(source ? { source } : {}),
        });
        await fx.store.transaction(async (tx) => {
          await tx.health.record(sample(100, 300));
          await tx.health.record(sample(0, 0, "delivery"));
        });
        const summary = await fx.store.transaction((tx) => tx.health.summary(agentId, at(0)));
        expect(summary).toEqual({ samples: 2, uptime_percentage: 50, error_rate: 0.5, avg_latency_ms: 300 });
        const rows = await fx.client.query<{ source: string }>(
          "SELECT source FROM health_metrics WHERE agent_id = $1 ORDER BY id",
          [agentId],
        );
        expect(rows.map((row) => row.source)).toEqual(["probe", "delivery"]);
        await expect(
          fx.store.transaction((tx) => tx.health.record({ ...sample(0, 0), source: "gossip" as never })),
        ).rejects.toBeInstanceOf(ValidationError);
      });
    });

    describe("approvals", () => {
      const newRequest = (overrides: { id?: string; requested_at?: string; agent_id?: string } = {}) => ({
        id: uid("approval"),
        task_id: uid("task"),
        agent_id: "agent-approval",
        bid_amount: "250",
        reason: "AMOUNT_ABOVE_THRESHOLD",
        requested_at: at(0),
        ...overrides,
      });

      it("creates a request once and returns the stored row on a repeat", async () => {
        const input = newRequest();

        const first = await fx.store.transaction((tx) => tx.approvals.create(input));
        const again = await fx.store.transaction((tx) =>
          tx.approvals.create({ ...input, reason: "BRONZE_TIER" }),
        );

        expect(first).toEqual({
          created: true,
          request: {
            ...input,
            bid_amount: "250.000000",
            status: "pending",
            reviewer: null,
            decided_at: null,
            note: null,
          },
        });
        expect(again).toEqual({ created: false, request: first.request });
      });

      it("decides a pending request once; a second decision is a ConflictError naming the status", async () => {
        const input = newRequest();
        await fx.store.transaction((tx) => tx.approvals.create(input));

        const decided = await fx.store.transaction((tx) =>
          tx.approvals.decide(input.id, "approved", "judge:alice", at(5), "looks fine"),
        );
        const second = fx.store.transaction((tx) =>
          tx.approvals.decide(input.id, "rejected", "judge:bob", at(6), null),
        );

        expect(decided).toMatchObject({
          status: "approved",
          reviewer: "judge:alice",
          decided_at: at(5),
          note: "looks fine",
        });
        await expect(second).rejects.toBeInstanceOf(ConflictError);
        await expect(second).rejects.toThrow(/approved/);
        expect(await fx.store.transaction((tx) => tx.approvals.get(input.id))).toEqual(decided);
        await expect(
          fx.store.transaction((tx) =>
            tx.approvals.decide(uid("missing"), "approved", "judge:alice", at(5), null),
          ),
        ).rejects.toBeInstanceOf(NotFoundError);
      });

      it("pages by (requested_at, id) with a status filter and refuses foreign cursors", async () => {
        const agentId = uid("agent-page");
        const mine = [
          newRequest({ agent_id: agentId, requested_at: at(100), id: `${agentId}-b` }),
          newRequest({ agent_id: agentId, requested_at: at(100), id: `${agentId}-a` }),
          newRequest({ agent_id: agentId, requested_at: at(101) }),
          newRequest({ agent_id: agentId, requested_at: at(99) }),
          newRequest({ agent_id: agentId, requested_at: at(102) }),
        ];
        await fx.store.transaction(async (tx) => {
          for (const request of mine) await tx.approvals.create(request);
          await tx.approvals.decide(mine[2]?.id as string, "rejected", "judge:carol", at(200), null);
        });
        const walk = async (status: "pending" | undefined) => {
          const items: Array<{ id: string; requested_at: string; status: string; agent_id: string }> = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await fx.store.listApprovals(status, { limit: 2, ...(cursor ? { cursor } : {}) });
            expect(page.items.length).toBeLessThanOrEqual(2);
            items.push(...page.items);
            cursor = page.cursor;
            pages += 1;
          } while (cursor && pages < 1000);
          return items;
        };

        const pending = await walk("pending");
        const all = await walk(undefined);

        const order = (items: Array<{ id: string; requested_at: string }>) =>
          [...items].sort(
            (x, y) =>
              x.requested_at.localeCompare(y.requested_at) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0),
          );
        expect(pending).toEqual(order(pending));
        expect(all).toEqual(order(all));
        expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
        expect(pending.every((r) => r.status === "pending")).toBe(true);
        const expectedIds = [mine[3], mine[1], mine[0], mine[2], mine[4]].map((r) => r?.id);
        expect(all.filter((r) => r.agent_id === agentId).map((r) => r.id)).toEqual(expectedIds);
        expect(pending.filter((r) => r.agent_id === agentId).map((r) => r.id)).toEqual(
          expectedIds.filter((id) => id !== mine[2]?.id),
        );

        const probeCursor = Buffer.from(JSON.stringify({ k: "probe-targets", id: "x" })).toString(
          "base64url",
        );
        const nulCursor = Buffer.from(JSON.stringify({ k: "approvals", at: at(0), id: "a\u0000" })).toString(
          "base64url",
        );
        for (const cursor of ["%%%", "bm90LWpzb24", probeCursor, nulCursor]) {
          await expect(fx.store.listApprovals(undefined, { cursor })).rejects.toBeInstanceOf(ValidationError);
        }
      });
    });

    describe("migrations", () => {
      it("are idempotent: a second run applies nothing and keeps the data", async () => {
        const before = await fx.store.verifyAudit();

        const applied = await migrate(fx.client);
        const concurrently = await Promise.all([migrate(fx.client), migrate(fx.client)]);

        expect(applied).toEqual([]);
        expect(concurrently).toEqual([[], []]);
        const rows = await fx.client.query<{ id: string }>("SELECT id FROM schema_migrations ORDER BY id");
        expect(MIGRATIONS.map((m) => m.id)).toEqual([...MIGRATIONS.map((m) => m.id)].sort());
        expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
        expect(await fx.store.verifyAudit()).toEqual(before);
        expect(before.ok).toBe(true);
      });

      it("answers ping", async () => {
        await expect(fx.store.ping()).resolves.toBeUndefined();
      });
    });
  });
}
