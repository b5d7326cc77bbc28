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
 * Checks rows one at a time, so a caller can page through the table with bounded memory. Feed rows
 * in `seq` order with {@link AuditChainVerifier.push}, then call {@link AuditChainVerifier.finish}.
 */
export interface AuditChainVerifier {
  /** Checks the next row; false once the chain is broken (further rows are ignored). */
  push(row: AuditEntry): boolean;
  /**
   * The verdict. `head` (the store's record of the last append) catches a deleted tail, which no
   * row can reveal; without it only the rows themselves are checked.
   */
  finish(head?: AuditChainHead): AuditVerification;
}

/**
 * A verifier for rows signed with `key`. For each row it checks, in this order: `seq` follows the
 * previous one (a gap means deleted rows and is reported at the row after the gap), `prev_hash`
 * is the previous row's signature, and the signature matches the row's recomputed canonical content.
 */
export function createAuditChainVerifier(key: AuditKey): AuditChainVerifier {
  let lastSeq = 0;
  let lastHash = GENESIS_HASH;
  let checked = 0;
  let failure: AuditVerification | undefined;

  const fail = (seq: number, reason: string): false => {
    failure = { ok: false, rows_checked: checked, first_bad_seq: seq, reason };
    return false;
  };

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
      if (row.prev_hash !== lastHash) {
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
      lastSeq = row.seq;
      lastHash = row.signature;
      checked += 1;
      return true;
    },

    finish(head) {
      if (failure) return failure;
      if (head && head.seq > lastSeq) {
        return {
          ok: false,
          rows_checked: checked,
          first_bad_seq: lastSeq + 1,
          reason: `the chain head is at seq ${head.seq} but the last row is seq ${lastSeq}: rows were removed`,
        };
      }
      if (head && head.seq < lastSeq) {
        return {
          ok: false,
          rows_checked: head.seq,
          first_bad_seq: head.seq + 1,
          reason: `rows after the chain head (seq ${head.seq}) were added outside the append path`,
        };
      }
      if (head && head.last_hash !== lastHash) {
        return {
          ok: false,
          rows_checked: Math.max(checked - 1, 0),
          first_bad_seq: lastSeq,
          reason: `the chain head's hash does not match the signature of seq ${lastSeq}`,
        };
      }
      return { ok: true, rows: checked };
    },
  };
}

function sameHex(actual: string, expected: string): boolean {
  const a = Buffer.from(actual, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
