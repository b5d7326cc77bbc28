import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { openPgliteTestStore, TEST_AUDIT_KEY } from "../helpers/postgres.js";
import { describeGovernanceStoreContract } from "./governance-store.contract.js";

describeGovernanceStoreContract("PGlite", openPgliteTestStore);

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
});
