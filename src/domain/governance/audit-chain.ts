import { createHmac, timingSafeEqual } from "node:crypto";
import { ValidationError } from "../errors.js";
import type { AuditEntry, AuditEntryInput, AuditVerification } from "./governance.types.js";
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

/** The key id a plain (non-JSON) key gets in a keyring, and the default key for rows without a key id. */
export const PLAIN_AUDIT_KEY_ID = "default";

/**
 * The audit keys, so the HMAC key can rotate: new rows and checkpoints are signed with `current`
 * and record its id; each row is verified with the key its `key_id` names. Rows written before key
 * ids existed (`key_id` null) are verified with `legacy`.
 *
 * As configured (`AUDIT_HMAC_KEY`): either a plain key, which is the keyring
 * `{"current":"default","keys":{"default":<key>}}`, or that JSON itself, e.g.
 * `{"current":"k2","keys":{"default":"<old key>","k2":"<new key>"}}`.
 */
export interface AuditKeyring {
  /** Id of the key that signs new rows and checkpoints; must be in `keys`. */
  readonly current: string;
  readonly keys: Readonly<Record<string, AuditKey>>;
  /** Id of the key for rows without a key id; {@link PLAIN_AUDIT_KEY_ID} when omitted. */
  readonly legacy?: string;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Shortest key accepted inside a JSON keyring (the same floor config puts on a plain key). */
const MIN_KEYRING_KEY_LENGTH = 32;

/**
 * The keyring for a configured key: a keyring as is (checked), a plain key as the one key
 * {@link PLAIN_AUDIT_KEY_ID}, and a string that starts with `{` parsed as a JSON keyring. Throws
 * an Error that names what is wrong, never the keys themselves.
 */
export function auditKeyring(key: AuditKey | AuditKeyring): AuditKeyring {
  if (typeof key === "string" && key.trimStart().startsWith("{")) return parseKeyring(key);
  if (typeof key === "string" || key instanceof Uint8Array) {
    if (key.length === 0) throw new Error("The audit key must not be empty");
    return Object.freeze({ current: PLAIN_AUDIT_KEY_ID, keys: Object.freeze({ [PLAIN_AUDIT_KEY_ID]: key }) });
  }
  return checkedKeyring(key, 1);
}

function parseKeyring(text: string): AuditKeyring {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error("The audit key looks like a JSON keyring but does not parse");
  }
  const { current, keys, legacy, ...rest } = parsed as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new Error(`The audit keyring has unknown fields: ${extra.join(", ")}`);
  if (typeof keys !== "object" || keys === null || Array.isArray(keys)) {
    throw new Error('The audit keyring needs "keys": an object of key id → key');
  }
  for (const [id, value] of Object.entries(keys)) {
    if (typeof value !== "string")
      throw new Error(`The audit keyring's key ${JSON.stringify(id)} is not a string`);
  }
  return checkedKeyring(
    {
      current: current as string,
      keys: keys as Record<string, string>,
      ...(legacy !== undefined ? { legacy: legacy as string } : {}),
    },
    MIN_KEYRING_KEY_LENGTH,
  );
}

function checkedKeyring(keyring: AuditKeyring, minLength: number): AuditKeyring {
  const ids = Object.keys(keyring.keys ?? {});
  if (ids.length === 0) throw new Error("The audit keyring holds no keys");
  for (const id of ids) {
    if (!KEY_ID.test(id)) {
      throw new Error(`The audit keyring's key id ${JSON.stringify(id)} must be 1-64 of A-Z a-z 0-9 . _ -`);
    }
    const key = keyring.keys[id];
    if (key === undefined || key.length < minLength) {
      throw new Error(
        `The audit keyring's key ${JSON.stringify(id)} must be at least ${minLength} characters`,
      );
    }
  }
  if (typeof keyring.current !== "string" || !Object.hasOwn(keyring.keys, keyring.current)) {
    throw new Error(`The audit keyring's "current" must name one of its keys (${ids.join(", ")})`);
  }
  if (keyring.legacy !== undefined && !Object.hasOwn(keyring.keys, keyring.legacy)) {
    throw new Error(`The audit keyring's "legacy" must name one of its keys (${ids.join(", ")})`);
  }
  return Object.freeze({
    current: keyring.current,
    keys: Object.freeze({ ...keyring.keys }),
    ...(keyring.legacy !== undefined ? { legacy: keyring.legacy } : {}),
  });
}

/**
 * The key that verifies a row (or checkpoint) recording `keyId`; for null, the legacy key. Undefined
 * when the keyring does not hold it.
 */
export function auditKeyFor(keyring: AuditKeyring, keyId: string | null | undefined): AuditKey | undefined {
  const id = keyId ?? keyring.legacy ?? PLAIN_AUDIT_KEY_ID;
  return Object.hasOwn(keyring.keys, id) ? keyring.keys[id] : undefined;
}

/** The key new rows and checkpoints are signed with. */
function currentKey(keyring: AuditKeyring): AuditKey {
  const key = keyring.keys[keyring.current];
  if (key === undefined) throw new Error(`The audit keyring has no key ${keyring.current}`);
  return key;
}

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
 * success, cost, details and occurred_at, and key_id when the row records one (a row without it,
 * written before key ids existed, signs exactly what it always did). Values are normalised first (occurred_at through
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
    ...(typeof entry.key_id === "string" ? { key_id: entry.key_id } : {}),
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
 * The row that follows `head`: seq `head.seq + 1`, linked to `head.last_hash`, signed with the
 * keyring's current key and recording its id. The input is normalised as the database will give
 * it back (details as plain JSON with sorted keys, cost as {@link normalizeDecimal} text,
 * occurred_at as `toISOString()`), so the row read back verifies. Invalid input is a ValidationError.
 */
export function nextAuditEntry(
  head: AuditChainHead,
  input: AuditEntryInput,
  keyring: AuditKeyring,
): AuditEntry {
  const content: AuditContent = {
    seq: head.seq + 1,
    action: input.action,
    agent_id: input.agent_id,
    resource: input.resource,
    actor: input.actor,
    success: input.success,
    cost: input.cost === null ? null : normalizeDecimal(input.cost, "cost"),
    details: plainJsonObject(input.details),
    occurred_at: isoMillis(input.occurred_at, "occurred_at"),
    key_id: keyring.current,
  };
  const signature = signAuditRow(currentKey(keyring), canonicalAuditContent(content), head.last_hash);
  return { ...content, prev_hash: head.last_hash, signature };
}

/** Audit details as plain JSON data with sorted keys: what jsonb will give back. */
function plainJsonObject(details: Record<string, unknown>): Record<string, unknown> {
  if (typeof details !== "object" || details === null || Array.isArray(details)) {
    throw new ValidationError("Invalid details", [{ path: "details", message: "must be a JSON object" }]);
  }
  return JSON.parse(canonicalJson(details)) as Record<string, unknown>;
}

function isoMillis(value: string, path: string): string {
  const date = typeof value === "string" ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError(`Invalid ${path}`, [{ path, message: "must be an ISO-8601 timestamp" }]);
  }
  return date.toISOString();
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
 * A verifier for rows signed with `key` (a plain key, or a keyring: each row is checked with the key
 * its `key_id` names). For each row it checks, in this order: `seq` follows the
 * previous one (a gap means deleted rows and is reported at the row after the gap), `prev_hash`
 * is the previous row's signature, the keyring holds the row's key, and the signature matches the
 * row's recomputed canonical content.
 *
 * With `resume`, the first row pushed must be the checkpoint row `resume.seq` itself: its signature
 * must still recompute from its content and `prev_hash`, and still equal `resume.signature`.
 */
export function createAuditChainVerifier(
  key: AuditKey | AuditKeyring,
  resume?: AuditChainResume,
): AuditChainVerifier {
  const keyring = auditKeyring(key);
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
      const rowKey = auditKeyFor(keyring, row.key_id);
      if (rowKey === undefined) {
        return fail(
          row.seq,
          typeof row.key_id === "string"
            ? `seq ${row.seq} is signed with key id ${JSON.stringify(row.key_id)}, which the audit keyring does not hold`
            : `seq ${row.seq} has no key id and the audit keyring has no legacy key ${JSON.stringify(keyring.legacy ?? PLAIN_AUDIT_KEY_ID)}`,
        );
      }
      let canonical: string;
      try {
        canonical = canonicalAuditContent(row);
      } catch (error) {
        return fail(row.seq, `content of seq ${row.seq} cannot be read: ${(error as Error).message}`);
      }
      if (!sameHex(row.signature, signAuditRow(rowKey, canonical, row.prev_hash))) {
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
  /** Id of the key its MAC is under (covered by the MAC); null/absent: the legacy key. */
  key_id?: string | null;
}

/**
 * The MAC that makes a stored checkpoint unforgeable without the key: moving it past a tampered row
 * would otherwise hide the row from every incremental walk. Its own prefix keeps it apart from row
 * signatures (whose input starts with `{`). A checkpoint's `key_id`, when set, is covered too.
 */
export function signAuditCheckpoint(key: AuditKey, checkpoint: AuditCheckpoint): string {
  const text = canonicalJson({
    seq: checkpoint.seq,
    signature: checkpoint.signature,
    verified_at: checkpoint.verified_at,
    ...(typeof checkpoint.key_id === "string" ? { key_id: checkpoint.key_id } : {}),
  });
  return createHmac("sha256", key).update("audit-checkpoint\n").update(text).digest("hex");
}

/**
 * Whether `mac` is {@link signAuditCheckpoint} of `checkpoint` under `key` (a keyring: the key its
 * `key_id` names; false when the keyring no longer holds it).
 */
export function auditCheckpointMatches(
  key: AuditKey | AuditKeyring,
  checkpoint: AuditCheckpoint,
  mac: string,
): boolean {
  const checkpointKey = auditKeyFor(auditKeyring(key), checkpoint.key_id);
  return checkpointKey !== undefined && sameHex(mac, signAuditCheckpoint(checkpointKey, checkpoint));
}

/** `checkpoint` as the keyring's current key signs it: with that key's id and the MAC. */
export function signAuditCheckpointWith(
  keyring: AuditKeyring,
  checkpoint: Omit<AuditCheckpoint, "key_id">,
): { checkpoint: AuditCheckpoint; mac: string } {
  const signed: AuditCheckpoint = { ...checkpoint, key_id: keyring.current };
  return { checkpoint: signed, mac: signAuditCheckpoint(currentKey(keyring), signed) };
}

function sameHex(actual: string, expected: string): boolean {
  const a = Buffer.from(actual, "utf8");
  const b = Buffer.from(expected, "utf8");
  return a.length === b.length && timingSafeEqual(a, b);
}
