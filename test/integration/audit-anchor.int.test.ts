import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEd25519Signer, createEd25519Verifier } from "../../src/adapters/anchors/ed25519-anchor-key.js";
import { createFolderAnchorStore } from "../../src/adapters/anchors/folder-anchor-store.js";
import {
  AnchorMismatchError,
  type AuditAnchoring,
  createAuditAnchoring,
} from "../../src/domain/governance/audit-anchoring.js";
import type { AuditEntryInput } from "../../src/domain/governance/governance.types.js";
import type { AnchorStore } from "../../src/ports/audit-anchor.js";
import { cutAuditTail, rewriteAndResign } from "../helpers/audit-tamper.js";
import { openPgliteTestStore, openPgTestStore, type TestGovernanceStore } from "../helpers/postgres.js";

const databaseUrl = process.env.DATABASE_URL ?? "";

function row(n: number): AuditEntryInput {
  return {
    action: "test_event",
    agent_id: `agent-${n}`,
    resource: `agent:agent-${n}`,
    actor: "test:anchors",
    success: true,
    cost: null,
    details: { n },
    occurred_at: new Date(Date.UTC(2031, 5, 1, 0, 0, n)).toISOString(),
  };
}

const tempDirs: string[] = [];
afterAll(async () => {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
});

/** Anchoring over a store, with a fresh Ed25519 key and a folder of anchors of its own. */
async function anchoringFor(
  fx: TestGovernanceStore,
  clock?: () => Date,
  minIntervalMs?: number,
): Promise<{ anchoring: AuditAnchoring; anchors: AnchorStore }> {
  const dir = await mkdtemp(join(tmpdir(), "agentforge-anchors-"));
  tempDirs.push(dir);
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const anchors = createFolderAnchorStore(join(dir, "audit-anchors"));
  const anchoring = createAuditAnchoring({
    store: fx.store,
    anchors,
    signer: async () => createEd25519Signer(privateKey),
    verifier: async () => createEd25519Verifier(publicKey),
    ...(clock ? { now: clock } : {}),
    ...(minIntervalMs !== undefined ? { minIntervalMs } : {}),
  });
  return { anchoring, anchors };
}

async function append(fx: TestGovernanceStore, from: number, to: number): Promise<void> {
  await fx.store.transaction(async (tx) => {
    for (let n = from; n <= to; n += 1) await tx.audit.append(row(n));
  });
}

function describeAnchoring(name: string, open: () => Promise<TestGovernanceStore>) {
  describe(`audit anchors (${name})`, () => {
    let cut: TestGovernanceStore;
    let rewritten: TestGovernanceStore;
    beforeAll(async () => {
      [cut, rewritten] = await Promise.all([open(), open()]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([cut?.dispose(), rewritten?.dispose()]);
    });

    it("anchors the head when it moved, verifies against the newest anchor, and catches a cut tail with a rewound head", async () => {
      const { anchoring, anchors } = await anchoringFor(cut);
      expect(await anchoring.anchor()).toEqual({ anchored: false, why: "empty" });
      expect(await anchoring.verify({ mode: "full" })).toMatchObject({
        ok: true,
        rows: 0,
        anchor: null,
        unanchored_rows: 0,
        anchor_note: expect.stringContaining("no anchor written yet"),
      });

      await append(cut, 1, 10);
      const first = await anchoring.anchor();
      expect(first).toMatchObject({ anchored: true, anchor: { seq: 10, algorithm: "Ed25519" } });
      expect(await anchoring.anchor()).toEqual({ anchored: false, why: "unchanged" });
      await append(cut, 11, 12);
      expect(await anchoring.verify({ mode: "full" })).toMatchObject({
        ok: true,
        rows: 12,
        anchor: { seq: 10 },
        unanchored_rows: 2,
      });
      const second = await anchoring.anchor();
      if (!second.anchored) throw new Error(`expected an anchor, got ${JSON.stringify(second)}`);
      expect(second.anchor.seq).toBe(12);
      expect(await anchors.latest()).toEqual(second.anchor);
      expect(await anchoring.verify({ mode: "incremental" })).toMatchObject({
        ok: true,
        anchor: { seq: 12, anchored_at: second.anchor.anchored_at },
        unanchored_rows: 0,
      });

      // The owner turns the triggers off, deletes the last 3 rows and rewinds the head.
      expect(await cutAuditTail(cut.client, 3)).toBe(9);

      // On its own the chain verifies: every row and the head agree...
      expect(await cut.store.verifyAudit({ full: true })).toEqual({
        ok: true,
        rows: 9,
        verified_through: 9,
        complete: true,
      });
      // ...but not against the anchor, in every mode.
      const named = `anchor seq 12 of ${second.anchor.anchored_at}`;
      for (const mode of ["full", "incremental", "checkpoint"] as const) {
        expect(await anchoring.verify({ mode }), mode).toMatchObject({
          ok: false,
          first_bad_seq: 10,
          rows_checked: 9,
          // The checkpoint walk also misses seq 12, which it verified before: both reasons, the anchor's first.
          reason: expect.stringContaining(`rows deleted after seq 9: the chain head 9 is behind ${named}`),
          anchor: { seq: 12, anchored_at: second.anchor.anchored_at },
        });
      }
      // New anchors are refused rather than cover the cut chain, even after new appends.
      await append(cut, 100, 105);
      await expect(anchoring.anchor()).rejects.toBeInstanceOf(AnchorMismatchError);
      expect(await anchoring.verify({ mode: "full" })).toMatchObject({
        ok: false,
        first_bad_seq: 12,
        reason: `seq 12 (or a row before it) was rewritten: its signature differs from the one in ${named}`,
      });
    });

    it("catches a row rewritten before the anchor and the whole chain re-signed with the HMAC key", async () => {
      const { anchoring } = await anchoringFor(rewritten);
      await append(rewritten, 1, 8);
      const anchored = await anchoring.anchor();
      if (!anchored.anchored) throw new Error("expected an anchor");
      await append(rewritten, 9, 10);

      const [before] = await rewritten.store.listAudit({ afterSeq: 2, limit: 1 });
      const rows = await rewritten.store.listAudit({ afterSeq: 2 });
      const prev = await rewritten.store.auditRowAt(2);
      await rewriteAndResign(rewritten.client, rewritten.auditKey, rows, prev?.signature ?? "", {
        n: 3,
        rewritten: true,
      });
      expect((await rewritten.store.auditRowAt(3))?.details).toEqual({ n: 3, rewritten: true });
      expect(before?.details).toEqual({ n: 3 });

      expect(await rewritten.store.verifyAudit({ full: true })).toMatchObject({ ok: true, rows: 10 });
      const named = `anchor seq 8 of ${anchored.anchor.anchored_at}`;
      for (const mode of ["full", "incremental"] as const) {
        expect(await anchoring.verify({ mode }), mode).toMatchObject({
          ok: false,
          first_bad_seq: 8,
          reason: `seq 8 (or a row before it) was rewritten: its signature differs from the one in ${named}`,
          anchor: { seq: 8 },
          unanchored_rows: 2,
        });
      }
    });

    it("anchors at most once per minimum interval, and again once it passed", async () => {
      let now = Date.parse("2031-06-01T00:00:00.000Z");
      const fx = rewritten;
      const { anchoring } = await anchoringFor(fx, () => new Date(now), 60_000);
      // This store's chain was rewritten above, but a new anchor folder only sees the chain as it is now.
      expect(await anchoring.anchor()).toMatchObject({ anchored: true, anchor: { seq: 10 } });
      await append(fx, 11, 11);
      now += 30_000;
      expect(await anchoring.anchor()).toEqual({ anchored: false, why: "too-soon" });
      now += 30_000;
      expect(await anchoring.anchor()).toMatchObject({ anchored: true, anchor: { seq: 11 } });
    });
  });
}

describeAnchoring("PGlite", openPgliteTestStore);
describe.skipIf(!databaseUrl)("with DATABASE_URL", () => {
  describeAnchoring("PostgreSQL server", () => openPgTestStore(databaseUrl));
});
