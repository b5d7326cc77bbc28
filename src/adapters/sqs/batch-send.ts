import { setTimeout as sleep } from "node:timers/promises";
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { forEachConcurrent } from "../../lib/concurrency.js";
import { backoffDelay } from "../../lib/retry.js";

/** SendMessageBatch takes at most 10 entries. */
export const SQS_BATCH_LIMIT = 10;
/** SendMessageBatch calls in flight at once for one `sendInBatches`. */
const BATCHES_IN_FLIGHT = 4;
/** Tries per chunk for entries SQS refused on its side (the SDK already retries whole calls). */
const ENTRY_ATTEMPTS = 3;

/** Entries SQS refused even after retries; the caller's own retry (its queue or stream) resends. */
export class BatchSendError extends Error {
  override name = "BatchSendError";
  constructor(
    readonly queueUrl: string,
    readonly failed: Array<{ id: string; code: string; sender_fault: boolean }>,
  ) {
    super(
      `${failed.length} message(s) could not be sent: ${failed
        .slice(0, 5)
        .map((f) => `${f.id} (${f.code})`)
        .join(", ")}${failed.length > 5 ? ", …" : ""}`,
    );
  }
}

/**
 * Sends `entries` (each `Id` unique within the call) with SendMessageBatch, 10 per call and a few
 * calls at once. Entries SQS refuses on its side (throttling, an internal error) are sent again, up
 * to {@link ENTRY_ATTEMPTS} tries with jittered backoff; what still fails, or any entry refused as
 * the sender's fault, is reported in one {@link BatchSendError} after every other entry went out.
 * A call that throws (the SDK's own retries used up) rejects, after the other chunks ran.
 */
export async function sendInBatches(
  client: SQSClient,
  queueUrl: string,
  entries: readonly SendMessageBatchRequestEntry[],
): Promise<void> {
  const chunks: SendMessageBatchRequestEntry[][] = [];
  for (let i = 0; i < entries.length; i += SQS_BATCH_LIMIT)
    chunks.push(entries.slice(i, i + SQS_BATCH_LIMIT));
  const failed: BatchSendError["failed"] = [];
  await forEachConcurrent(chunks, BATCHES_IN_FLIGHT, async (chunk) => {
    let pending = chunk;
    for (let attempt = 1; ; attempt += 1) {
      const { Failed = [] } = await client.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }),
      );
      if (Failed.length === 0) return;
      const refused = new Set(Failed.map((f) => f.Id));
      pending = pending.filter((entry) => refused.has(entry.Id));
      if (attempt >= ENTRY_ATTEMPTS || Failed.some((f) => f.SenderFault)) {
        for (const f of Failed) {
          failed.push({ id: f.Id ?? "?", code: f.Code ?? "Unknown", sender_fault: f.SenderFault ?? false });
        }
        return;
      }
      await sleep(backoffDelay(attempt, { baseDelayMs: 50, maxDelayMs: 400 }));
    }
  });
  if (failed.length > 0) throw new BatchSendError(queueUrl, failed);
}
