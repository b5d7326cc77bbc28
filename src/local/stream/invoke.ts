import type { DynamoDBBatchItemFailure, DynamoDBRecord } from "aws-lambda";
import { sequenceOf } from "../../adapters/dynamo/stream-records.js";
import { backoffDelay } from "../../lib/retry.js";
import type { DynamoStreamHandler } from "./types.js";

/** One handler invocation and its outcome, and the backoff between retries of a failing batch. */

/** Backoff before retry `attempt` (1-based): exponential, capped, with equal jitter. */
export function retryDelay(
  attempt: number,
  { base, max }: { base: number; max: number },
  random: () => number = Math.random,
): number {
  return Math.round(backoffDelay(attempt, { baseDelayMs: base, maxDelayMs: max, jitter: "equal" }, random));
}

export type InvokeOutcome = { kind: "ok" } | { kind: "failed"; from: number; error: unknown };

/**
 * Calls the handler once with a fresh copy of the records and reads its answer as Lambda does with
 * `ReportBatchItemFailures`: a throw, or a `batchItemFailures` that is not an array or names a record
 * not in the batch, fails the whole batch (`from` 0); otherwise `from` is the lowest reported record,
 * before which everything succeeded.
 */
export async function invokeHandler(
  handler: DynamoStreamHandler,
  records: DynamoDBRecord[],
): Promise<InvokeOutcome> {
  let response: Awaited<ReturnType<DynamoStreamHandler>>;
  try {
    // A fresh copy per attempt, as Lambda parses fresh JSON: a handler's mutations do not leak into retries.
    response = await handler({ Records: structuredClone(records) });
  } catch (error) {
    return { kind: "failed", from: 0, error };
  }
  const failures: unknown = response?.batchItemFailures ?? [];
  if (!Array.isArray(failures)) {
    return {
      kind: "failed",
      from: 0,
      error: new Error("The handler's batchItemFailures is not an array; the whole batch counts as failed"),
    };
  }
  if (failures.length === 0) return { kind: "ok" };
  const indexBySequence = new Map(records.map((record, index) => [sequenceOf(record), index]));
  let from = records.length;
  for (const failure of failures as Partial<DynamoDBBatchItemFailure>[]) {
    const id = failure?.itemIdentifier;
    const index = typeof id === "string" ? indexBySequence.get(id) : undefined;
    if (index === undefined) {
      return {
        kind: "failed",
        from: 0,
        error: new Error(
          `batchItemFailures names ${JSON.stringify(id)}, which is not a sequence number in this batch; the whole batch counts as failed, as on Lambda`,
        ),
      };
    }
    from = Math.min(from, index);
  }
  return {
    kind: "failed",
    from,
    error: new Error(`The handler reported record ${sequenceOf(records[from] as DynamoDBRecord)} as failed`),
  };
}
