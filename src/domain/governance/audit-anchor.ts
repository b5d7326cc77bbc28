import { type AuditChainHead, canonicalJson } from "./audit-chain.js";
import type { AuditVerification } from "./governance.types.js";

/**
 * An anchor is a signed statement, kept outside the database, that the audit chain had reached `seq`
 * with `last_hash` as that row's signature at `anchored_at`. The chain's HMAC key and the database
 * owner role together can rewrite or cut the chain so that it verifies on its own; they cannot sign an
 * anchor (an asymmetric key the database never sees) nor remove one (an append-only store). Checking
 * the chain against the newest anchor therefore catches rows deleted or rewritten up to that anchor.
 */

export const AUDIT_ANCHOR_VERSION = 1;

/** Signature algorithms an anchor may carry: Ed25519 (the local key file), ECDSA P-256 (AWS KMS). */
export type AnchorAlgorithm = "Ed25519" | "ECDSA_SHA_256";
export const ANCHOR_ALGORITHMS: readonly AnchorAlgorithm[] = ["Ed25519", "ECDSA_SHA_256"];

export interface AuditAnchor {
  version: typeof AUDIT_ANCHOR_VERSION;
  /** The last audit row the anchor covers. */
  seq: number;
  /** That row's signature (its HMAC), which chains every row before it. */
  last_hash: string;
  /** ISO-8601 UTC with milliseconds. */
  anchored_at: string;
  /** Which key signed: a fingerprint of the local key, or the KMS key ARN. */
  key_id: string;
  algorithm: AnchorAlgorithm;
  /** Base64 signature over {@link anchorSignedBytes}. */
  signature: string;
}

export type UnsignedAuditAnchor = Omit<AuditAnchor, "signature">;

/** What an answer says about the anchor it was checked against. */
export interface AnchorSummary {
  seq: number;
  anchored_at: string;
  key_id: string;
}

/**
 * A verification of the chain, checked against the newest anchor as well. `anchor` is null when none
 * was written yet (then only the database's own head backs the chain's tail, see `anchor_note`);
 * `unanchored_rows` are the rows after the anchor, which no anchor covers yet.
 */
export type AnchoredAuditVerification = AuditVerification & {
  anchor: AnchorSummary | null;
  unanchored_rows: number;
  anchor_note?: string;
};

const SIGNED_PREFIX = "agentforge-audit-anchor\n";
const HEX_64 = /^[0-9a-f]{64}$/;
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const SEQ_COMPLEMENT = 10n ** 20n;
const TIME_COMPLEMENT = 10 ** 13;

/**
 * The bytes a signature covers: a prefix of its own (no row or checkpoint MAC starts with it), then
 * the canonical JSON of every field but the signature — so the key id and algorithm are signed too.
 */
export function anchorSignedBytes(anchor: UnsignedAuditAnchor): Uint8Array {
  const text = canonicalJson({
    version: anchor.version,
    seq: anchor.seq,
    last_hash: anchor.last_hash,
    anchored_at: anchor.anchored_at,
    key_id: anchor.key_id,
    algorithm: anchor.algorithm,
  });
  return new TextEncoder().encode(SIGNED_PREFIX + text);
}

/**
 * The anchor's name in its store: `<20 digits of 10^20 − seq>-<13 digits of 10^13 − ms>.json`, so
 * that ascending order (a folder listing sorted, S3's ListObjectsV2) yields the newest first: highest
 * seq, then latest time.
 */
export function anchorFileName(anchor: Pick<AuditAnchor, "seq" | "anchored_at">): string {
  const ms = Date.parse(anchor.anchored_at);
  if (!Number.isSafeInteger(anchor.seq) || anchor.seq < 1 || Number.isNaN(ms)) {
    throw new RangeError(`An anchor needs a seq ≥ 1 and a time, not ${anchor.seq} / ${anchor.anchored_at}`);
  }
  const seqPart = (SEQ_COMPLEMENT - BigInt(anchor.seq)).toString().padStart(20, "0");
  const timePart = String(TIME_COMPLEMENT - ms).padStart(13, "0");
  return `${seqPart}-${timePart}.json`;
}

/** Names {@link anchorFileName} produces. */
export const ANCHOR_FILE_NAME = /^\d{20}-\d{13}\.json$/;

/** Checks a stored anchor's shape; throws a one-sentence error naming `where` when it is not one. */
export function parseAuditAnchor(value: unknown, where: string): AuditAnchor {
  const bad = (why: string): never => {
    throw new Error(`The audit anchor ${where} is not a valid anchor: ${why}`);
  };
  if (typeof value !== "object" || value === null || Array.isArray(value)) return bad("not a JSON object");
  const a = value as Record<string, unknown>;
  if (a.version !== AUDIT_ANCHOR_VERSION) bad(`version ${JSON.stringify(a.version)}`);
  if (typeof a.seq !== "number" || !Number.isSafeInteger(a.seq) || a.seq < 1) bad("seq");
  if (typeof a.last_hash !== "string" || !HEX_64.test(a.last_hash)) bad("last_hash");
  if (typeof a.anchored_at !== "string" || !ISO_MILLIS.test(a.anchored_at)) bad("anchored_at");
  if (typeof a.key_id !== "string" || a.key_id.length === 0 || a.key_id.length > 2048) bad("key_id");
  if (!ANCHOR_ALGORITHMS.includes(a.algorithm as AnchorAlgorithm)) bad("algorithm");
  if (typeof a.signature !== "string" || !BASE64.test(a.signature)) bad("signature");
  return {
    version: AUDIT_ANCHOR_VERSION,
    seq: a.seq as number,
    last_hash: a.last_hash as string,
    anchored_at: a.anchored_at as string,
    key_id: a.key_id as string,
    algorithm: a.algorithm as AnchorAlgorithm,
    signature: a.signature as string,
  };
}

/** "anchor seq 12 of 2031-06-01T00:00:00.000Z": how every message names an anchor. */
export function describeAnchor(anchor: Pick<AuditAnchor, "seq" | "anchored_at">): string {
  return `anchor seq ${anchor.seq} of ${anchor.anchored_at}`;
}

export function anchorSummary(anchor: AuditAnchor): AnchorSummary {
  return { seq: anchor.seq, anchored_at: anchor.anchored_at, key_id: anchor.key_id };
}

/** What the database shows at the anchor, and whether the anchor's own signature holds. */
export interface AnchorEvidence {
  anchor: AuditAnchor;
  /** The key id the verifier trusts (the configured anchor key). */
  trustedKeyId: string;
  /** Whether the signature verified under the trusted key (false when the key ids differ). */
  signatureValid: boolean;
  /** The chain head as stored now. */
  head: AuditChainHead;
  /** The row at `anchor.seq`, if it exists. */
  rowAtAnchor: { seq: number; signature: string } | undefined;
}

export type AnchorCheck = { ok: true } | { ok: false; first_bad_seq: number; reason: string };

/**
 * Whether the chain still holds what the anchor saw: the anchor is signed by the trusted key, the
 * head has not fallen behind it (else the tail was cut and the head rewound), and the row at the
 * anchor still exists with the anchored signature (else it, or a row before it, was rewritten: every
 * signature chains the one before). Rows before the anchor are then covered by the chain walk.
 */
export function checkChainAgainstAnchor(evidence: AnchorEvidence): AnchorCheck {
  const { anchor, head, rowAtAnchor } = evidence;
  const named = describeAnchor(anchor);
  if (anchor.key_id !== evidence.trustedKeyId) {
    return {
      ok: false,
      first_bad_seq: anchor.seq,
      reason: `${named} is signed by key ${anchor.key_id}, not by the configured anchor key ${evidence.trustedKeyId}`,
    };
  }
  if (!evidence.signatureValid) {
    return {
      ok: false,
      first_bad_seq: anchor.seq,
      reason: `${named} has an invalid signature: the anchor itself was altered`,
    };
  }
  if (head.seq < anchor.seq) {
    return {
      ok: false,
      first_bad_seq: head.seq + 1,
      reason: `rows deleted after seq ${head.seq}: the chain head ${head.seq} is behind ${named}`,
    };
  }
  if (!rowAtAnchor) {
    return {
      ok: false,
      first_bad_seq: anchor.seq,
      reason: `seq ${anchor.seq}, covered by ${named}, is missing: rows were deleted`,
    };
  }
  if (rowAtAnchor.signature !== anchor.last_hash) {
    return {
      ok: false,
      first_bad_seq: anchor.seq,
      reason: `seq ${anchor.seq} (or a row before it) was rewritten: its signature differs from the one in ${named}`,
    };
  }
  return { ok: true };
}

/** Rows after the anchor, which it does not cover yet. */
export function unanchoredRows(headSeq: number, anchor: Pick<AuditAnchor, "seq"> | undefined): number {
  return Math.max(0, headSeq - (anchor?.seq ?? 0));
}

export const NO_ANCHOR_NOTE =
  "no anchor written yet: the chain's tail is backed only by the database's own head, so a cut tail would go unnoticed";

/**
 * One answer from a chain walk and the anchor check: broken when either is, the anchor's reason first
 * (it names the anchor), with the earlier of the two bad rows.
 */
export function combineWithAnchor(
  walk: AuditVerification,
  anchor: AuditAnchor | undefined,
  check: AnchorCheck | undefined,
  headSeq: number,
): AnchoredAuditVerification {
  const extra = {
    anchor: anchor ? anchorSummary(anchor) : null,
    unanchored_rows: unanchoredRows(headSeq, anchor),
    ...(anchor ? {} : { anchor_note: NO_ANCHOR_NOTE }),
  };
  if (!check || check.ok) return { ...walk, ...extra };
  const firstBad = walk.ok ? check.first_bad_seq : Math.min(walk.first_bad_seq, check.first_bad_seq);
  const verified = Math.max(0, Math.min(walk.verified_through, firstBad - 1));
  return {
    ok: false,
    rows_checked: verified,
    first_bad_seq: firstBad,
    reason: walk.ok ? check.reason : `${check.reason}; the chain walk: ${walk.reason}`,
    verified_through: verified,
    complete: true,
    ...extra,
  };
}
