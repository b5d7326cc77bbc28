import { ConflictError, ValidationError } from "../../domain/errors.js";

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
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Signals from inside {@link withOptimisticRetry} that the attempt lost a race and must be redone. */
export class RetryableConflict extends Error {
  override name = "RetryableConflict";
}

/**
 * Runs read-modify-write `attempt`s until one commits. Losers back off with full jitter so a burst of
 * writers on one hot item serialises instead of colliding in lockstep.
 */
export async function withOptimisticRetry<T>(
  what: string,
  attempt: () => Promise<T>,
  { attempts = 100, baseDelayMs = 2, maxDelayMs = 50 }: RetryOptions = {},
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof RetryableConflict)) throw error;
      if (n >= attempts) throw new ConflictError(`${what}: gave up after ${n} concurrent-write conflicts`);
      const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(n, 16));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
  }
}

/** Decodes an opaque pagination cursor, rejecting anything that is not one of ours. */
export function checkCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  if (cursor.length > 2048 || !/^[A-Za-z0-9+/_=-]+$/.test(cursor)) {
    throw new ValidationError("Invalid cursor", [
      { path: "cursor", message: "is not a cursor this API issued" },
    ]);
  }
  return cursor;
}

/** Maps ElectroDB's "bad ExclusiveStartKey" failures to a 4xx-class error. */
export function rethrowCursorError(error: unknown): never {
  const text = causes(error)
    .map((c) => `${c.name ?? ""} ${c.message ?? ""}`)
    .join(" ");
  if (/cursor|starting key|ExclusiveStartKey/i.test(text)) {
    throw new ValidationError("Invalid cursor", [
      { path: "cursor", message: "is not a cursor this API issued" },
    ]);
  }
  throw error;
}
