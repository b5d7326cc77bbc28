import * as z from "zod";
import { MAX_PAGE_SIZE } from "../ports/pagination.js";
import { ISSUE_URL_MAX_LENGTH, ISSUE_URL_MESSAGE, ISSUE_URL_PATTERN } from "./tasks/issue-url.js";

/**
 * Amounts are finite, non-negative and bounded. Performance sums are kept in integer micro-units,
 * exact while an agent's total stays under 2^53 micro-units (about 9 billion); at this cap that is
 * still more than 9,000 maximum-price tasks.
 */
export const MAX_AMOUNT = 1_000_000;
export const amountSchema = z
  .number({ error: "must be a number" })
  .refine(Number.isFinite, "must be finite")
  .refine((n) => n >= 0, "must be >= 0")
  .refine((n) => n <= MAX_AMOUNT, `must be <= ${MAX_AMOUNT}`);

/** Identifiers that end up inside keys: no `#` separators, whitespace or control characters. */
export const agentIdSchema = z
  .string({ error: "must be a string" })
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    "must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
  );

/** A GitHub issue html_url (github.com or GitHub Enterprise): https://host/owner/repo/issues/N. */
export const issueUrlSchema = z
  .string({ error: "must be a string" })
  .max(ISSUE_URL_MAX_LENGTH, `must be at most ${ISSUE_URL_MAX_LENGTH} characters`)
  .regex(ISSUE_URL_PATTERN, ISSUE_URL_MESSAGE);

/**
 * ISO-8601 instant, normalised to `Date.prototype.toISOString()` (UTC, millisecond precision) so that
 * every timestamp in a sort key has the same width and sorts chronologically as a string.
 */
export const isoTimestampSchema = z
  .string({ error: "must be a string" })
  .refine(isIsoInstant, "must be an ISO-8601 timestamp with a zone, e.g. 2025-07-01T12:30:00Z")
  .transform((s) => new Date(s).toISOString());

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/** Strict ISO-8601 instant: a real calendar date, in-range clock fields and an explicit zone. */
function isIsoInstant(value: string): boolean {
  const m = ISO_INSTANT.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second = 0, zoneHour = 0, zoneMinute = 0] = m
    .slice(1)
    .map((part) => (part === undefined ? undefined : Number(part))) as number[];
  const date = new Date(Date.UTC(year as number, (month as number) - 1, day));
  return (
    // Keeps the normalised form a fixed-width `YYYY-…Z` whatever the zone offset.
    (year as number) >= 1971 &&
    (year as number) <= 9998 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === (month as number) - 1 &&
    date.getUTCDate() === day &&
    (hour as number) < 24 &&
    (minute as number) < 60 &&
    second < 60 &&
    zoneHour < 24 &&
    zoneMinute < 60
  );
}

/** Who did something (a reviewer, judge, operator): goes to the audit log, so printable and bounded. */
export const actorNameSchema = z
  .string({ error: "must be a string" })
  .regex(/^[\x21-\x7e]{1,128}$/, "must be 1-128 printable characters without spaces");

/**
 * A string without control characters (`\p{Cc}`: U+0000–U+001F, U+007F–U+009F), for anything that
 * reaches a key or Postgres, whose `text` cannot hold U+0000 at all. Chain bounds onto it.
 */
export const plainTextSchema = z
  .string({ error: "must be a string" })
  .regex(/^[^\p{Cc}]*$/u, "must not contain control characters");

/** `text` with each run of control characters replaced by `by`: for free text that is kept, not refused. */
export function replaceControlCharacters(text: string, by: string): string {
  return text.replace(/\p{Cc}+/gu, by);
}

/** A free-text reason or note for the audit log: bounded, without control characters. */
export const auditNoteSchema = plainTextSchema.max(500, "must be at most 500 characters");

/**
 * The authenticated principal as the audit log names it, `operator:<name>` or `agent:<id>` (see
 * domain/identity/principal.ts). Services that record who acted take it as an argument from the
 * caller's credentials and check it again, so a bug upstream cannot write garbage into an audit row,
 * a reviewer or a judge: printable ASCII without spaces or control characters, at most 160.
 */
export const principalActorSchema = z
  .string({ error: "must be a string" })
  .max(160, "must be at most 160 characters")
  .regex(/^(?:operator|agent):[\x21-\x7e]+$/, "must be operator:<name> or agent:<id>, printable, no spaces");

/**
 * A body field naming who acts (`judge`, `reviewer`, `actor`): refused whenever present, because that
 * is the authenticated caller, never something a client says. `role` names it in the message.
 */
export function takenFromCredentials(role: string) {
  return z.never({ error: `is not accepted: the ${role} is taken from the caller's credentials` }).optional();
}

/**
 * A page request as a service accepts it: a whole `limit` from 1 to {@link MAX_PAGE_SIZE} and an
 * opaque cursor (base64url, bounded). What the cursor says is checked by whoever issued it.
 */
export const pageRequestSchema = z.strictObject({
  limit: z
    .number({ error: "must be a number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(MAX_PAGE_SIZE, `must be at most ${MAX_PAGE_SIZE}`)
    .optional(),
  cursor: z
    .string({ error: "must be a string" })
    .max(512, "must be at most 512 characters")
    .regex(/^[A-Za-z0-9_-]*$/, "is not a cursor this API issued")
    .optional(),
});
