import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The invocation's deadline, carried implicitly (AsyncLocalStorage) from the batch handler, which has
 * the Lambda context, down to every retry loop beneath it (the domain services, the repositories),
 * so none of them needs the context passed through its signature. Outside an invocation (tests, the
 * CLI, the bench) there is no deadline.
 */

/** What a retry loop needs of a Lambda `Context`. */
export interface RemainingTime {
  getRemainingTimeInMillis(): number;
}

/** A retry stopped because going on would run past the invocation's deadline; the record is retried later. */
export class DeadlineExceededError extends Error {
  override name = "DeadlineExceededError";
}

/** Most milliseconds kept back from the remaining time, to fail the record and answer the batch in time. */
export const MAX_SAFETY_MARGIN_MS = 3_000;

/**
 * What is kept back of `remainingMs`: a tenth, at most {@link MAX_SAFETY_MARGIN_MS} (3 s of a 30 s
 * invocation, 200 ms of a 2 s one).
 */
export function safetyMarginMs(remainingMs: number): number {
  return Math.min(MAX_SAFETY_MARGIN_MS, Math.max(0, Math.floor(remainingMs / 10)));
}

const deadlines = new AsyncLocalStorage<number>();

export interface InvocationOptions {
  /** Overrides {@link safetyMarginMs}. */
  marginMs?: number;
  /** Injected for tests; defaults to `Date.now`. */
  now?: () => number;
}

/**
 * Runs `fn` with the deadline "now + the context's remaining time − a safety margin" in force for
 * everything it awaits. Without a context, `fn` runs under whatever deadline is already in force. A
 * nested call never extends an outer deadline.
 */
export function runWithinInvocation<T>(
  context: RemainingTime | undefined,
  fn: () => Promise<T>,
  { marginMs, now = Date.now }: InvocationOptions = {},
): Promise<T> {
  if (!context || typeof context.getRemainingTimeInMillis !== "function") return fn();
  const remaining = context.getRemainingTimeInMillis();
  const own = now() + remaining - (marginMs ?? safetyMarginMs(remaining));
  const outer = deadlines.getStore();
  return deadlines.run(outer === undefined ? own : Math.min(outer, own), fn);
}

/** The deadline in force (epoch milliseconds), or `undefined` outside an invocation. */
export function invocationDeadline(): number | undefined {
  return deadlines.getStore();
}

/**
 * Throws {@link DeadlineExceededError} when the deadline in force has passed: for loops whose every
 * round is a few requests (not a sleep), so that no new round starts after it. `what` names the work
 * in the message.
 */
export function assertBeforeDeadline(what: string, now: () => number = Date.now): void {
  const deadline = deadlines.getStore();
  if (deadline !== undefined && now() >= deadline) {
    throw new DeadlineExceededError(`${what}: stopped at the invocation's deadline`);
  }
}
