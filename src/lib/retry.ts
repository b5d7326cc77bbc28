import { invocationDeadline } from "./deadline.js";

/**
 * The one retry loop and the one backoff formula. Callers decide what is retryable and what a
 * give-up means for them (a delivery result, a ConflictError, a failed record); this decides when to
 * try again and how long to wait.
 */

/**
 * How the wait before a retry is drawn under its exponential ceiling: `equal` (half fixed, half
 * random: never retries at once, still spreads callers that failed together), `full` (anywhere from 0
 * to the ceiling: best for writers racing on one item) or `none` (the ceiling itself).
 */
export type Jitter = "equal" | "full" | "none";

export interface BackoffPolicy {
  /** Ceiling of the first wait; each later ceiling doubles, up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Default `equal`. */
  jitter?: Jitter;
}

/** The wait before attempt `attempt + 1` (attempt is 1-based): ceiling `min(maxDelayMs, baseDelayMs · 2^(attempt-1))`. */
export function backoffDelay(
  attempt: number,
  { baseDelayMs, maxDelayMs, jitter = "equal" }: BackoffPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(Math.max(0, attempt - 1), 30));
  if (jitter === "none") return ceiling;
  if (jitter === "full") return random() * ceiling;
  return ceiling / 2 + random() * (ceiling / 2);
}

export interface RetryOptions extends BackoffPolicy {
  /** Most attempts in total, the first included (below 1 counts as 1). */
  attempts: number;
  /** Whether a failure is worth another attempt; by default every failure is. */
  isRetryable?: (error: unknown) => boolean;
  /** Most wall-clock milliseconds from the first attempt to keep retrying; sleeps never run past it. */
  budgetMs?: number;
  /**
   * Epoch milliseconds after which no retry starts and no sleep runs: by default the invocation's
   * (see `runWithinInvocation`), none outside one.
   */
  deadline?: number;
  /** Injected for tests; default a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests; default `Math.random`. */
  random?: () => number;
  /** Injected for tests; default `Date.now`. */
  now?: () => number;
}

/** Why a retry loop gave up. */
export type GiveUpReason = "not_retryable" | "attempts" | "budget" | "deadline";

export type RetryOutcome<T> =
  | { ok: true; value: T; attempts: number }
  | { ok: false; error: unknown; attempts: number; reason: GiveUpReason; elapsedMs: number };

const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` until it resolves or a failure is final: not retryable, the last attempt, the budget
 * spent, or the next wait would end past the deadline. The first attempt always runs; an attempt under
 * way is never interrupted. Never throws what `fn` throws: the outcome says what happened.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<RetryOutcome<T>> {
  const {
    isRetryable = () => true,
    sleep = timer,
    random = Math.random,
    now = Date.now,
    budgetMs,
    deadline = invocationDeadline(),
  } = options;
  const limit = Math.max(1, Math.floor(options.attempts));
  const started = now();
  const budgetEnd = budgetMs === undefined ? Number.POSITIVE_INFINITY : started + budgetMs;
  const deadlineAt = deadline ?? Number.POSITIVE_INFINITY;
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await fn(attempt), attempts: attempt };
    } catch (error) {
      const at = now();
      const giveUp = (reason: GiveUpReason): RetryOutcome<T> => ({
        ok: false,
        error,
        attempts: attempt,
        reason,
        elapsedMs: at - started,
      });
      if (!isRetryable(error)) return giveUp("not_retryable");
      if (attempt >= limit) return giveUp("attempts");
      if (at >= budgetEnd) return giveUp("budget");
      const wait = Math.min(backoffDelay(attempt, options, random), budgetEnd - at);
      if (at + wait >= deadlineAt) return giveUp("deadline");
      if (wait > 0) await sleep(wait);
    }
  }
}
