import type { AnchorSigner, AnchorStore, AnchorVerifier } from "../../ports/audit-anchor.js";
import { AnchorExistsError } from "../../ports/audit-anchor.js";
import type { GovernanceStore } from "../../ports/governance-store.js";
import {
  type AnchorCheck,
  type AnchoredAuditVerification,
  AUDIT_ANCHOR_VERSION,
  type AuditAnchor,
  anchorSignedBytes,
  checkChainAgainstAnchor,
  combineWithAnchor,
  describeAnchor,
  type UnsignedAuditAnchor,
} from "./audit-anchor.js";
import type { AuditVerification } from "./governance.types.js";

/**
 * Signed checkpoints of the audit chain's head, written to an append-only store outside the database,
 * and verification of the chain against the newest of them (see audit-anchor.ts).
 */

export type AuditVerifyMode =
  /** From seq 1 to the head, no budget, plus the anchor check: finds an edit anywhere up to the anchor. */
  | "full"
  /**
   * From the newest anchor's row onward (it must still carry the anchored signature), within the
   * budget: the rows since the last anchor. Without an anchor it walks from the saved checkpoint.
   */
  | "incremental"
  /** From the store's saved verification checkpoint, within the budget (`GET /audit/verify`), plus the anchor check. */
  | "checkpoint";

export interface AuditVerifyRequest {
  mode?: AuditVerifyMode;
  /** Time budget of the incremental and checkpoint walks (the store's default when omitted). */
  budgetMs?: number;
}

export type AnchorOutcome =
  | { anchored: true; anchor: AuditAnchor }
  | { anchored: false; why: "empty" | "unchanged" | "too-soon" | "exists" };

/** The store refused to back a new anchor: the chain no longer holds what the newest anchor saw. */
export class AnchorMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AnchorMismatchError";
  }
}

export interface AuditAnchoring {
  /**
   * Signs the chain head and puts it in the anchor store when the head moved past the newest anchor
   * (or that anchor is under another key) and the minimum interval has passed. Refuses, with
   * {@link AnchorMismatchError}, when the chain no longer matches the newest anchor: a new anchor over
   * a cut or rewritten chain would hide the evidence.
   */
  anchor(): Promise<AnchorOutcome>;
  /** The chain walk of `mode` and the check against the newest anchor, as one answer. */
  verify(request?: AuditVerifyRequest): Promise<AnchoredAuditVerification>;
}

export interface AuditAnchoringOptions {
  store: Pick<GovernanceStore, "auditHead" | "auditRowAt" | "verifyAudit">;
  anchors: AnchorStore;
  /** Only writers have one; built on first use (a KMS client, a key file). */
  signer?: () => Promise<AnchorSigner>;
  /** Every verifier has one. */
  verifier: () => Promise<AnchorVerifier>;
  /** Least time between two anchors (0: at every call that finds the head moved). */
  minIntervalMs?: number;
  now?: () => Date;
}

export function createAuditAnchoring(options: AuditAnchoringOptions): AuditAnchoring {
  const { store, anchors } = options;
  const now = options.now ?? (() => new Date());
  const minIntervalMs = Math.max(0, options.minIntervalMs ?? 0);

  /** The anchor check against `anchor`, reading the head and the row at the anchor now. */
  const checkAgainst = async (anchor: AuditAnchor) => {
    const verifier = await options.verifier();
    const trustedKeyId = await verifier.keyId();
    const signatureValid =
      anchor.key_id === trustedKeyId &&
      anchor.algorithm === verifier.algorithm &&
      (await verifier.verify(anchorSignedBytes(anchor), Buffer.from(anchor.signature, "base64")));
    const head = await store.auditHead();
    const row = await store.auditRowAt(anchor.seq);
    const check = checkChainAgainstAnchor({
      anchor,
      trustedKeyId,
      signatureValid,
      head,
      rowAtAnchor: row ? { seq: row.seq, signature: row.signature } : undefined,
    });
    return { check, head };
  };

  return {
    async anchor() {
      const head = await store.auditHead();
      if (head.seq === 0) return { anchored: false, why: "empty" };
      if (!options.signer) throw new Error("No anchor signing key is configured here: only writers anchor");
      const signer = await options.signer();
      const newest = await anchors.latest();
      if (newest) {
        const row = await store.auditRowAt(newest.seq);
        if (head.seq < newest.seq || !row || row.signature !== newest.last_hash) {
          throw new AnchorMismatchError(
            `Not anchoring: the audit chain no longer matches ${describeAnchor(newest)} (head at seq ${head.seq}${
              row ? "" : `, seq ${newest.seq} missing`
            }); run audit verify`,
          );
        }
        const sameKey = newest.key_id === signer.keyId;
        if (sameKey && newest.seq === head.seq) return { anchored: false, why: "unchanged" };
        if (sameKey && now().getTime() - Date.parse(newest.anchored_at) < minIntervalMs) {
          return { anchored: false, why: "too-soon" };
        }
      }
      // The row itself, not just the head's copy of its hash: they must agree before we sign it.
      const last = await store.auditRowAt(head.seq);
      if (!last || last.signature !== head.last_hash) {
        throw new AnchorMismatchError(
          `Not anchoring: the chain head (seq ${head.seq}) does not match ${last ? "its row's signature" : "any row"}; run audit verify`,
        );
      }
      const unsigned: UnsignedAuditAnchor = {
        version: AUDIT_ANCHOR_VERSION,
        seq: head.seq,
        last_hash: head.last_hash,
        anchored_at: now().toISOString(),
        key_id: signer.keyId,
        algorithm: signer.algorithm,
      };
      const signature = Buffer.from(await signer.sign(anchorSignedBytes(unsigned))).toString("base64");
      const anchor: AuditAnchor = { ...unsigned, signature };
      try {
        await anchors.put(anchor);
      } catch (error) {
        // Another writer anchored the same head in the same millisecond: that anchor serves.
        if (error instanceof AnchorExistsError) return { anchored: false, why: "exists" };
        throw error;
      }
      return { anchored: true, anchor };
    },

    async verify(request = {}) {
      const mode = request.mode ?? "checkpoint";
      const budget = request.budgetMs !== undefined ? { budgetMs: request.budgetMs } : {};
      const anchor = await anchors.latest();
      let walk: AuditVerification;
      let check: AnchorCheck | undefined;
      let headSeq: number;
      if (mode === "incremental" && anchor) {
        // The anchor first: a failed check leaves nothing the walk from it could vouch for.
        const checked = await checkAgainst(anchor);
        check = checked.check;
        headSeq = checked.head.seq;
        walk = check.ok
          ? await store.verifyAudit({
              ...budget,
              resumeFrom: { seq: anchor.seq, signature: anchor.last_hash },
            })
          : // Like a checkpoint, the anchor vouches for the rows before it: the bad row is reported at it.
            { ok: true, rows: headSeq, verified_through: headSeq, complete: true };
      } else {
        walk = await store.verifyAudit(mode === "full" ? { full: true } : budget);
        if (anchor) {
          const checked = await checkAgainst(anchor);
          check = checked.check;
          headSeq = checked.head.seq;
        } else {
          headSeq = (await store.auditHead()).seq;
        }
      }
      return combineWithAnchor(walk, anchor, check, headSeq);
    },
  };
}
