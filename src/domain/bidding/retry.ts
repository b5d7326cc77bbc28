import { backoffDelay as libBackoffDelay, retry } from "../../lib/retry.js";
import type { DeliveryResult } from "./bidding.types.js";

/**
 * A failure that trying again cannot fix (a refused address, an HTTP 404, a queue that does not
 * exist): {@link withBackoff} gives up on it at once instead of spending the remaining attempts.
 */
export class NonRetryableError extends Error {
  override name = "NonRetryableError";
}

export interface BackoffOptions {
  /** Most attempts in total, the first included (at least 1). */
  attempts: number;
  /** Ceiling of the first wait; each later ceiling doubles, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Whether a failure is worth another attempt; by default everything but {@link NonRetryableError}. */
  isRetryable?: (error: unknown) => boolean;
  /** Injected for tests; defaults to a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests; defaults to `Math.random` (values in [0, 1)). */
  random?: () => number;
  /** Epoch ms past which no retry starts; defaults to the invocation's deadline (`src/lib/deadline.ts`). */
  deadline?: number;
}

/** Most characters of an error kept in a {@link DeliveryResult} (the bid item stores 512). */
const MAX_ERROR_LENGTH = 512;

/** `Name: message` of whatever was thrown, one line, bounded. */
export function describeError(error: unknown): string {
  const text =
    error instanceof Error
      ? error.name && error.name !== "Error"
        ? `${error.name}: ${error.message}`
        : error.message
      : String(error);
  return text.replace(/\s+/g, " ").trim().slice(0, MAX_ERROR_LENGTH) || "unknown error";
}

/**
 * The wait before attempt `attempt + 1`: "equal jitter", half of the exponential ceiling
 * `min(maxDelayMs, baseDelayMs · 2^(attempt-1))` fixed and half random. Unlike full jitter it never
 * retries a failing endpoint immediately, and the random half still spreads out callers that failed
 * together.
 */
export function backoffDelay(
  attempt: number,
  { baseDelayMs, maxDelayMs }: Pick<BackoffOptions, "baseDelayMs" | "maxDelayMs">,
  random: () => number = Math.random,
): number {
  return libBackoffDelay(attempt, { baseDelayMs, maxDelayMs, jitter: "equal" }, random);
}

/**
 * Runs `fn` until it resolves, it throws something not retryable, or `attempts` are used up, waiting
 * {@link backoffDelay} between attempts (no retry starts past the invocation's deadline). Never throws: the outcome is a {@link DeliveryResult} with the
 * number of attempts made and, on failure, the last error (one line, at most 512 characters). Callers
 * must not put secrets in the errors they throw, since the text is stored and logged.
 */
export async function withBackoff(
  fn: (attempt: number) => Promise<unknown>,
  options: BackoffOptions,
): Promise<DeliveryResult> {
  const outcome = await retry(fn, {
    isRetryable: (error: unknown) => !(error instanceof NonRetryableError),
    ...options,
    jitter: "equal",
  });
  if (outcome.ok) return { ok: true, attempts: outcome.attempts };
  const error = describeError(outcome.error);
  return {
    ok: false,
    attempts: outcome.attempts,
    error:
      outcome.reason === "deadline"
        ? `${error} (not retried: the invocation's deadline is near)`.slice(0, MAX_ERROR_LENGTH)
        : error,
  };
}
