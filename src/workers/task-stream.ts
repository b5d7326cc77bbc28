import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { issueUrlProblem } from "../domain/tasks/issue-url.js";

/**
 * The task stream function, the marketplace's outbox relay: what the table's stream shows becomes
 * messages on the dispatch queue (see dispatch-queue.ts for the worker).
 * - a new TASK item: `{ task_id }`, send its bid requests;
 * - an AWARD item that became AWARDED (made so, or approved), or a TASK that moved to NO_BIDS:
 *   `{ task_id, kind: "notify" }`, send the notices it owes.
 * The award and no-bids writes are the outbox: nobody sends a notice inline, and a crash after the
 * write loses nothing, since the stream record stays until this function has relayed it. It needs
 * SQS alone: no table client, no schema library.
 */

export const DISPATCH_METRICS = {
  dispatched: "TasksDispatched",
  skipped: "TasksNotDispatched",
  /** Bid requests put on the delivery queue (the delivery worker counts what got through). */
  enqueued: "BidRequestsEnqueued",
  /** AWARD / REJECTION notices put on the delivery queue. */
  noticesEnqueued: "NoticesEnqueued",
  rejected: "DispatchRecordsRejected",
} as const;

/** What the task stream function does with one table stream record. */
export type StreamDecision =
  | { action: "dispatch"; taskId: string; kind: "dispatch" | "notify" }
  | { action: "ignore" }
  | { action: "reject"; reason: string };

/** Why a record owes notices: the award became AWARDED, or the task became NO_BIDS (not already so). */
function owesNotices(record: DynamoDBRecord): boolean {
  const next = record.dynamodb?.NewImage;
  const before = record.dynamodb?.OldImage;
  if (record.eventName !== "INSERT" && record.eventName !== "MODIFY") return false;
  const type = next?.type?.S;
  const target = type === "AWARD" ? "AWARDED" : type === "TASK" ? "NO_BIDS" : undefined;
  return target !== undefined && next?.status?.S === target && before?.status?.S !== target;
}

/**
 * Decides what to do with one record of the table's stream: the INSERT of a task item (`type` =
 * "TASK" in the new image) starts a dispatch; an award that became AWARDED, or a task that became
 * NO_BIDS, asks for its notices. Every other record (bids, bid windows, agents, ledger entries,
 * other updates, deletes) is ignored. A record whose image cannot be read is rejected with a reason,
 * since redelivering it cannot make it readable.
 */
export function dispatchDecision(record: DynamoDBRecord): StreamDecision {
  const image = record.dynamodb?.NewImage;
  // Cheap pre-checks on the raw attributes so most records are not unmarshalled at all.
  const created = record.eventName === "INSERT" && image?.type?.S === "TASK";
  const notify = !created && owesNotices(record);
  if (!created && !notify) return { action: "ignore" };
  let item: Record<string, unknown>;
  try {
    item = unmarshall(image as Record<string, AttributeValue>);
  } catch (error) {
    return { action: "reject", reason: `image is not a DynamoDB item: ${(error as Error).message}` };
  }
  // Only the parts dispatch reads; everything else in the image is left alone.
  const problem = issueUrlProblem(item.task_id);
  if (problem) return { action: "reject", reason: `task_id: ${problem}` };
  return { action: "dispatch", taskId: item.task_id as string, kind: notify ? "notify" : "dispatch" };
}

/** The messages a batch of stream records asks for, in stream order, each (task, kind) once. */
export function tasksToDispatch(records: DynamoDBRecord[]): DispatchMessage[] {
  const seen = new Map<string, DispatchMessage>();
  for (const record of records) {
    const decision = dispatchDecision(record);
    if (decision.action !== "dispatch") continue;
    const key = `${decision.kind}\u0000${decision.taskId}`;
    if (!seen.has(key)) {
      seen.set(
        key,
        decision.kind === "notify"
          ? { task_id: decision.taskId, kind: "notify" }
          : { task_id: decision.taskId },
      );
    }
  }
  return [...seen.values()];
}

export const DISPATCH_QUEUE_METRICS = {
  enqueued: "TasksEnqueuedForDispatch",
} as const;

/** SendMessageBatch takes at most 10 entries. */
export const SEND_BATCH_SIZE = 10;

/** The dispatch queue's message body (checked by the worker's `dispatchMessageSchema`). */
export interface DispatchMessage {
  task_id: string;
  /** Absent for a new task's dispatch. */
  kind?: "dispatch" | "notify";
}

/** Some entries of a SendMessageBatch were refused; the stream retries the batch. */
export class DispatchEnqueueError extends Error {
  override name = "DispatchEnqueueError";
  constructor(readonly failed: Array<{ task_id: string; code: string; sender_fault: boolean }>) {
    super(
      `${failed.length} task(s) could not be enqueued for dispatch: ${failed
        .map((f) => `${f.task_id} (${f.code})`)
        .join(", ")}`,
    );
  }
}

export interface TaskStreamEnqueuerOptions {
  client: SQSClient;
  queueUrl: string;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The table stream's consumer for new tasks: sends one `{ "task_id" }` message per new TASK item (each
 * task once per batch, in stream order) to the dispatch queue with SendMessageBatch, 10 at a time. A
 * task insert whose image cannot be read is logged and dropped. If any entry fails (or the call
 * throws) the whole invocation throws, so Lambda retries the batch (bisecting it on repeated
 * failures): tasks already sent are sent again, which is harmless because dispatch only sends what is
 * not yet delivered.
 */
export function createTaskStreamEnqueuer({ client, queueUrl, logger, metrics }: TaskStreamEnqueuerOptions) {
  return async (event: DynamoDBStreamEvent): Promise<void> => {
    try {
      for (const record of event.Records) {
        const decision = dispatchDecision(record);
        if (decision.action !== "reject") continue;
        logger.error("Dropping unreadable task stream record", {
          sequence_number: record.dynamodb?.SequenceNumber,
          reason: decision.reason,
        });
        metrics.addMetric(DISPATCH_METRICS.rejected, MetricUnit.Count, 1);
      }
      const messages = tasksToDispatch(event.Records);
      for (let start = 0; start < messages.length; start += SEND_BATCH_SIZE) {
        const chunk = messages.slice(start, start + SEND_BATCH_SIZE);
        const { Failed = [] } = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((message, index) => ({
              Id: String(index),
              MessageBody: JSON.stringify(message),
            })),
          }),
        );
        const sent = chunk.length - Failed.length;
        if (sent > 0) metrics.addMetric(DISPATCH_QUEUE_METRICS.enqueued, MetricUnit.Count, sent);
        if (Failed.length > 0) {
          throw new DispatchEnqueueError(
            Failed.map((f) => ({
              task_id: chunk[Number(f.Id)]?.task_id ?? `entry ${f.Id}`,
              code: f.Code ?? "Unknown",
              sender_fault: f.SenderFault ?? false,
            })),
          );
        }
      }
      if (messages.length > 0) logger.info("Tasks enqueued for dispatch", { messages });
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
