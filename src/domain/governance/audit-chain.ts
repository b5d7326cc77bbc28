import { createHmac, timingSafeEqual } from "node:crypto";
import type { AuditEntry, AuditVerification } from "./governance.types.js";
import { normalizeDecimal } from "./money.js";

/**
 * The audit log is a hash chain: each row is signed with HMAC-SHA256 over its canonical content and
 * the previous row's signature. Editing, deleting, inserting or reordering a row breaks a link that
 * only the key holder could forge again.
 */

/** `prev_hash` of the first row. */
export const GENESIS_HASH = "0".repeat(64);

/** What a row signs: everything but its own `prev_hash` and `signature`. */
export type AuditContent = Omit<AuditEntry, "prev_hash" | "signature">;

/** Secret for the chain's HMAC. */
export type AuditKey = string | Uint8Array;

/**
 * JSON with object keys sorted (by UTF-16 code units) at every depth, so equal data always gives the
 * same text whatever its key order. Otherwise it follows `JSON.stringify`: `toJSON` is honoured,
 * `undefined` and functions are dropped from objects (and become `null` in arrays), non-finite
 * numbers become `null`, and a bigint throws.
 */
export function canonicalJson(value: unknown): string {
  return serialise(value, "") ?? "null";
}

function serialise(input: unknown, key: string): string | undefined {
  let value = input;
  if (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === "function"
  ) {
    value = (value as { toJSON(key: string): unknown }).toJSON(key);
  }
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
    case "number":
      return JSON.stringify(value);
    case "bigint":
      throw new TypeError("canonicalJson cannot serialise a bigint");
    case "object": {
      if (Array.isArray(value)) {
        return `[${value.map((item, index) => serialise(item, String(index)) ?? "null").join(",")}]`;
      }
      const record = value as Record<string, unknown>;
      const members: string[] = [];
      for (const name of Object.keys(record).sort()) {
        const text = serialise(record[name], name);
        if (text !== undefined) members.push(`${JSON.stringify(name)}:${text}`);
      }
      return `{${members.join(",")}}`;
    }
    default:
      return undefined;
  }
}

/**
 * The text a row's signature covers: canonical JSON of seq, action, agent_id, resource, actor,
 * success, cost, details and occurred_at. Values are normalised first (occurred_at through
 * `Date.toISOString()`, cost through {@link normalizeDecimal}) so that the same row read back from
 * the database, where they are a timestamptz and a numeric, yields the same text.
 */
export function canonicalAuditContent(entry: AuditContent): string {
  const occurred = new Date(entry.occurred_at);
  if (Number.isNaN(occurred.getTime())) {
    throw new RangeError(
      `Audit row ${entry.seq}: occurred_at ${JSON.stringify(entry.occurred_at)} is not a date`,
    );
  }
  return canonicalJson({
    seq: entry.seq,
    action: entry.action,
    agent_id: entry.agent_id,
    resource: entry.resource,
    actor: entry.actor,
    success: entry.success,
    cost: entry.cost === null ? null : normalizeDecimal(entry.cost, "cost"),
    details: entry.details,
    occurred_at: occurred.toISOString(),
  });
}

/** Hex HMAC-SHA256 of `canonical + "\n" + prevHash`. */
export function signAuditRow(key: AuditKey, canonical: string, prevHash: string): string {
  return createHmac("sha256", key).update(canonical).update("\n").update(prevHash).digest("hex");
}

/** The chain head as the store keeps it: the last appended `seq` and its signature. */
export interface AuditChainHead {
  seq: number;
  last_hash: string;
}

/**
 * Where a walk resumes: `seq` is the last row an earlier walk verified and `signature` its signature
 * then (a saved checkpoint). Rows before it are taken as verified.
 */
export interface AuditChainResume {
  seq: number;
  signature: string;
}

/**
 * Checks rows one at a time, so a caller can page through the table with bounded memory. Feed rows
 * in `seq` order with {@link AuditChainVerifier.push}, then call {@link AuditChainVerifier.finish}
 * (at the head) or {@link AuditChainVerifier.progress} (stopping early).
 */
export interface AuditChainVerifier {
  /** Checks the next row; false once the chain is broken (further rows are ignored). */
  push(row: AuditEntry): boolean;
  /**
   * The verdict once every row was pushed. `head` (the store's record of the last append) catches a
   * deleted tail, which no row can reveal; without it only the rows themselves are checked.
   */
  finish(head?: AuditChainHead): AuditVerification;
  /** The verdict so far, for a walk that stops before the head: `complete: false` unless broken. */
  progress(): AuditVerification;
  /** The last verified row (seq 0 and {@link GENESIS_HASH} before any). */
  readonly last: AuditChainResume;
}

/**
 * A verifier for rows signed with `key`. For each row it checks, in this order: `seq` follows the
 * previous one (a gap means deleted rows and is reported at the row after the gap), `prev_hash`
 * is the previous row's signature, and the signature matches the row's recomputed canonical content.
 *
 * With `resume`, the first row pushed must be the checkpoint row `resume.seq` itself: its signature
 * must still recompute from its content and `prev_hash`, and still equal `resume.signature`.
 */
export function createAuditChainVerifier(key: AuditKey, resume?: AuditChainResume): AuditChainVerifier {
  let lastSeq = resume ? resume.seq - 1 : 0;
  /** Unknown for the checkpoint row: the row before it is not read again. */
  let lastHash: string | undefined = resume ? undefined : GENESIS_HASH;
  let failure: AuditVerification | undefined;

  const broken = (rowsChecked: number, seq: number, reason: string): AuditVerification => ({
    ok: false,
    rows_checked: rowsChecked,
    first_bad_seq: seq,
    reason,
    verified_through: rowsChecked,
    complete: true,
  });
  // seq is gapless from 1, so the rows verified so far are exactly seq 1..lastSeq.
  const fail = (seq: number, reason: string): false => {
    failure = broken(lastSeq, seq, reason);
    return false;
  };
  const good = (complete: boolean): AuditVerification => ({
    ok: true,
    rows: lastSeq,
    verified_through: lastSeq,
    complete,
  });

  return {
    push(row) {
      if (failure) return false;
      const expected = lastSeq + 1;
      if (row.seq !== expected) {
        return fail(
          row.seq,
          row.seq > expected
            ? `seq ${row.seq} follows ${lastSeq}: rows ${expected}..${row.seq - 1} are missing`
            : `seq ${row.seq} is out of order after ${lastSeq}`,
        );
      }
      if (lastHash !== undefined && row.prev_hash !== lastHash) {
        return fail(row.seq, `prev_hash of seq ${row.seq} is not the signature of seq ${lastSeq}`);
      }
      let canonical: string;
      try {
        canonical = canonicalAuditContent(row);
      } catch (error) {
        return fail(row.seq, `content of seq ${row.seq} cannot be read: ${(error as Error).message}`);
      }
      if (!sameHex(row.signature, signAuditRow(key, canonical, row.prev_hash))) {
        return fail(row.seq, `signature of seq ${row.seq} does not match its content`);
      }
      if (lastHash === undefined && resume && !sameHex(row.signature, resume.signature)) {
        return fail(row.seq, `seq ${row.seq} is not the row verified before: its signature changed since`);
      }
      lastSeq = row.seq;
      lastHash = row.signature;
      return true;
    },

    finish(head) {
      if (failure) return failure;
      if (resume && lastHash === undefined) {
        // Even with a head rewound to match: the checkpoint remembers this row existed.
        return broken(lastSeq, resume.seq, `seq ${resume.seq}, verified before, is missing`);
      }
      if (head && head.seq > lastSeq) {
        return broken(
          lastSeq,
          lastSeq + 1,
          `the chain head is at seq ${head.seq} but the last row is seq ${lastSeq}: rows were removed`,
        );
      }
      if (head && head.seq < lastSeq) {
        return broken(
          head.seq,
          head.seq + 1,
          `rows after the chain head (seq ${head.seq}) were added outside the append path`,
        );
      }
      if (head && head.last_hash !== lastHash) {
        return broken(
          Math.max(lastSeq - 1, 0),
          lastSeq,
          `the chain head's hash does not match the signature of seq ${lastSeq}`,
        );
      }
      return good(true);
    },

    progress() {
      return failure ?? good(false);
    },

    get last() {
      return { seq: lastSeq, signature: lastHash ?? GENESIS_HASH };
    },
  };
}

/** What a saved verification checkpoint says: rows up to `seq` verified, at `verified_at`. */
export interface AuditCheckpoint extends AuditChainResume {
  verified_at: string;
}

/**
 * The MAC that makes a stored checkpoint unforgeable without the key: moving it past a tampered row
 * would otherwise hide the row from every incremental walk. Its own prefix keeps it apart from row
 * signatures (whose input starts with `{`).
 */
export function signAuditCheckpoint(key: AuditKey, checkpoint: AuditCheckpoint): string {
  const text = canonicalJson({
    seq: checkpoint.seq,
    signature: checkpoint.signature,
    verified_at: checkpoint.verified_at,
  });
  return createHmac("sha256", key).update("audit-checkpoint\n").update(text).digest("hex");
}

/** Whether `mac` is {@link signAuditCheckpoint} of `checkpoint` under `key`. */
export function auditCheckpointMatches(key: AuditKey, checkpoint: AuditCheckpoint, mac: string): boolean {
  return sameHex(mac, signAuditCheckpoint(key, checkpoint));
}

function sameHex(actual: string, expected: string): boolean {
  const a = Buffer.from(actual, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
