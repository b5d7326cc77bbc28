import { ValidationError } from "../../../domain/errors.js";
import type { Page, PageRequest } from "../../../ports/pagination.js";

/**
 * What the governance modules share: the shapes both drivers give values in, and the checks that
 * keep bad input from reaching Postgres (a ValidationError here, never a failed statement).
 */

/** `timestamptz` arrives as a Date (PGlite, `pg`); text is accepted as well. */
export type Timestamp = Date | string;
/** `bigint` arrives as a string from `pg` and as a number from PGlite. */
export type Int8 = string | number;

/** Upper bound for the lists that are not cursor-paged. */
export const MAX_LIST_LIMIT = 1000;
const MAX_CURSOR_LENGTH = 512;
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Text Postgres can be asked about: it refuses NUL outright, and no key here holds a control character. */
const PLAIN_TEXT = /^[^\p{Cc}]{1,512}$/u;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function iso(value: Timestamp): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/**
 * An input timestamp as the ISO text the store writes. Everything is kept to milliseconds, so what
 * comes back (and what the audit chain signs) is exactly what `toISOString()` gives.
 */
export function isoTimestamp(value: string, path: string): string {
  const date = typeof value === "string" ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError(`Invalid ${path}`, [{ path, message: "must be an ISO-8601 timestamp" }]);
  }
  return date.toISOString();
}

export function checkScore(value: number, path: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 100) {
    throw new ValidationError(`Invalid ${path}`, [{ path, message: "must be an integer from 0 to 100" }]);
  }
}

export function checkRange(value: number, min: number, max: number, path: string): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ValidationError(`Invalid ${path}`, [
      { path, message: `must be a number from ${min} to ${max}` },
    ]);
  }
}

export function clampLimit(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.min(Math.max(Math.trunc(limit), 1), max);
}

/** A filter value as a query parameter (null when absent); a control character is a ValidationError. */
export function plainText(value: string | undefined, path: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== "string" || !PLAIN_TEXT.test(value)) {
    throw new ValidationError(`Invalid ${path}`, [
      { path, message: "must be 1-512 characters without control characters" },
    ]);
  }
  return value;
}

/** The first `limit` of `rows` (fetched with one extra), with a cursor after the last when there are more. */
export function keysetPage<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return rows.length > limit && last ? { items, cursor: cursorOf(last) } : { items };
}

type Cursor =
  | { k: "approvals"; at: string; id: string }
  | { k: "escrows"; at: string; id: string }
  | { k: "probe-targets"; id: string };

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

/** Reads back a cursor {@link encodeCursor} issued for `kind`; anything else is a ValidationError. */
export function decodeCursor<K extends Cursor["k"]>(
  cursor: PageRequest["cursor"],
  kind: K,
): Extract<Cursor, { k: K }> | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  const invalid = () =>
    new ValidationError("Invalid cursor", [{ path: "cursor", message: "is not a cursor this API issued" }]);
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (typeof decoded !== "object" || decoded === null) throw invalid();
  const value = decoded as Record<string, unknown>;
  // The id goes back to Postgres: a tampered one must be refused here, not by the database.
  if (value.k !== kind || typeof value.id !== "string" || !PLAIN_TEXT.test(value.id)) throw invalid();
  if (kind === "escrows" && !UUID.test(value.id)) throw invalid();
  if (kind === "approvals" || kind === "escrows") {
    if (typeof value.at !== "string" || !ISO_MILLIS.test(value.at) || Number.isNaN(Date.parse(value.at))) {
      throw invalid();
    }
    return { k: kind, at: value.at, id: value.id } as Extract<Cursor, { k: K }>;
  }
  return { k: kind, id: value.id } as Extract<Cursor, { k: K }>;
}
