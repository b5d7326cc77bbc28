import { ConflictError, ValidationError } from "../../domain/errors.js";
import { DeadlineExceededError } from "../../lib/deadline.js";
import { retry } from "../../lib/retry.js";
import { keyAttributeNames, TABLE } from "./table-definition.js";

type Cause = { name?: string; code?: string; message?: string; cause?: unknown };

function causes(error: unknown): Cause[] {
  const chain: Cause[] = [];
  let current: unknown = error;
  while (current && typeof current === "object" && chain.length < 8) {
    chain.push(current as Cause);
    current = (current as Cause).cause;
  }
  return chain;
}

/** True when a single-item write failed its condition (ElectroDB wraps the SDK error in `cause`). */
export function isConditionalCheckFailed(error: unknown): boolean {
  return causes(error).some((c) => c.name === "ConditionalCheckFailedException");
}

/** Codes of a cancelled transaction item that mean "someone else wrote first: read again and retry". */
export const RETRYABLE_TRANSACTION_CODES = new Set(["ConditionalCheckFailed", "TransactionConflict"]);

export interface RetryOptions {
  /** Most attempts in total, the first included. */
  attempts?: number;
  /**
   * Most wall-clock milliseconds to keep retrying (default 20 s), so one hot item cannot keep a Lambda
   * busy past its timeout; a handler with a shorter timeout should pass less. Checked after every
   * lost race; backoff sleeps never run past it. An attempt already under way is not interrupted.
   */
  budgetMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Signals from inside {@link withOptimisticRetry} that the attempt lost a race and must be redone. */
export class RetryableConflict extends Error {
  override name = "RetryableConflict";
}

/**
 * Runs read-modify-write `attempt`s until one commits. Losers back off with full jitter so a burst of
 * writers on one hot item serialises instead of colliding in lockstep. Gives up with a
 * {@link ConflictError} after `attempts` lost races or once `budgetMs` has passed, whichever is first,
 * and with a {@link DeadlineExceededError} when another wait would run past the invocation's deadline
 * (so the record fails and is retried instead of the function timing out).
 */
export async function withOptimisticRetry<T>(
  what: string,
  attempt: () => Promise<T>,
  { attempts = 100, budgetMs = 20_000, baseDelayMs = 2, maxDelayMs = 500 }: RetryOptions = {},
): Promise<T> {
  const outcome = await retry(attempt, {
    attempts,
    budgetMs,
    baseDelayMs,
    maxDelayMs,
    jitter: "full",
    isRetryable: (error) => error instanceof RetryableConflict,
  });
  if (outcome.ok) return outcome.value;
  const { reason, attempts: n, elapsedMs } = outcome;
  if (reason === "not_retryable") throw outcome.error;
  if (reason === "deadline") {
    throw new DeadlineExceededError(
      `${what}: stopped after ${n} concurrent-write conflicts in ${elapsedMs} ms, at the invocation's deadline`,
    );
  }
  throw new ConflictError(`${what}: gave up after ${n} concurrent-write conflicts in ${elapsedMs} ms`);
}

const MAX_CURSOR_LENGTH = 2048;

/** The error every malformed or foreign pagination cursor gets. */
export function invalidCursor(): ValidationError {
  return new ValidationError("Invalid cursor", [
    { path: "cursor", message: "is not a cursor this API issued" },
  ]);
}

/**
 * The key sets a `LastEvaluatedKey` of this table can have: the table key alone (a query on the
 * table) or the table key plus one index's key (a query on that index).
 */
const CURSOR_KEY_SETS: ReadonlySet<string>[] = [
  new Set([TABLE.partitionKey, TABLE.sortKey]),
  ...Object.values(TABLE.globalIndexes).map(
    (index) => new Set([TABLE.partitionKey, TABLE.sortKey, index.partitionKey, index.sortKey]),
  ),
];
const KEY_ATTRIBUTES: ReadonlySet<string> = new Set(keyAttributeNames());

function isCursorKey(value: unknown): boolean {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const entries = Object.entries(value);
  if (entries.length !== 2 && entries.length !== 4) return false;
  if (!entries.every(([name, v]) => KEY_ATTRIBUTES.has(name) && typeof v === "string" && v !== "")) {
    return false;
  }
  return CURSOR_KEY_SETS.some(
    (set) => set.size === entries.length && entries.every(([name]) => set.has(name)),
  );
}

/**
 * Checks an opaque pagination cursor before it reaches DynamoDB, rejecting anything that is not one
 * of ours with a {@link ValidationError}.
 *
 * ElectroDB 3 issues a cursor as base64url of the JSON of the query's `LastEvaluatedKey` (plain
 * strings, since it sits on the document client) and decodes it the same way, so this decodes it
 * likewise and requires a JSON object of non-empty strings keyed by the table key, optionally plus
 * one index key: exactly the shapes this table's queries can return. A forged cursor of another
 * shape would otherwise reach DynamoDB as `ExclusiveStartKey` and fail as a server error.
 */
export function checkCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9+/_=-]+$/.test(cursor)) throw invalidCursor();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor();
  }
  if (!isCursorKey(decoded)) throw invalidCursor();
  return cursor;
}

/**
 * Whether the failed request carried an `ExclusiveStartKey`, when the error says (ElectroDB attaches
 * the request's parameters to its errors as a `params()` function); `undefined` when it does not.
 */
function requestHadStartKey(chain: Cause[]): boolean | undefined {
  for (const c of chain) {
    const params: unknown = (c as { params?: unknown }).params;
    if (typeof params !== "function") continue;
    let request: unknown;
    try {
      request = params.call(c);
    } catch {
      continue;
    }
    if (request && typeof request === "object") {
      return (request as { ExclusiveStartKey?: unknown }).ExclusiveStartKey != null;
    }
  }
  return undefined;
}

/**
 * Maps a failed paged query to a 4xx-class error when the cursor is to blame, and rethrows anything
 * else unchanged. With a cursor given, any DynamoDB `ValidationException` is blamed on it (say, a
 * well-formed cursor issued for another index), as are ElectroDB's own cursor-parsing errors; a
 * request that demonstrably carried no `ExclusiveStartKey` is never blamed on the cursor.
 *
 * Callers should pass `cursorWasGiven` (`cursor !== undefined`); it defaults to `true` so that
 * callers written before it existed keep working.
 */
export function rethrowCursorError(error: unknown, cursorWasGiven = true): never {
  const chain = causes(error);
  if (cursorWasGiven && requestHadStartKey(chain) !== false) {
    const text = chain.map((c) => `${c.name ?? ""} ${c.message ?? ""}`).join(" ");
    if (
      chain.some((c) => c.name === "ValidationException" || c.code === "ValidationException") ||
      /cursor|starting key|ExclusiveStartKey/i.test(text)
    ) {
      throw invalidCursor();
    }
  }
  throw error;
}
