import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { issueUrlProblem } from "../domain/tasks/issue-url.js";

/**
 * The task stream function: new TASK items of the table's stream become `{ task_id }` messages on
 * the dispatch queue (see dispatch-queue.ts for the worker). It needs SQS alone: no table client, no
 * schema library.
 */

export const DISPATCH_METRICS = {
  dispatched: "TasksDispatched",
  skipped: "TasksNotDispatched",
  delivered: "BidRequestsDelivered",
  failed: "BidRequestsFailed",
  rejected: "DispatchRecordsRejected",
} as const;

/** What the task stream function does with one table stream record. */
export type StreamDecision =
  | { action: "dispatch"; taskId: string }
  | { action: "ignore" }
  | { action: "reject"; reason: string };

/**
 * Decides what to do with one record of the table's stream: only the INSERT of a task item (`type` =
 * "TASK" in the new image) starts a dispatch. Every other record (bids, bid windows, agents, ledger
 * entries; task updates and deletes) is ignored. A task insert whose image cannot be read is rejected
 * with a reason, since redelivering it cannot make it readable.
 */
export function dispatchDecision(record: DynamoDBRecord): StreamDecision {
  if (record.eventName !== "INSERT") return { action: "ignore" };
  const image = record.dynamodb?.NewImage;
  // Cheap pre-check on the raw attribute so most records are not unmarshalled at all.
  if (image?.type?.S !== "TASK") return { action: "ignore" };
  let item: Record<string, unknown>;
  try {
    item = unmarshall(image as Record<string, AttributeValue>);
  } catch (error) {
    return { action: "reject", reason: `image is not a DynamoDB item: ${(error as Error).message}` };
  }
  // Only the parts dispatch reads; everything else in the image is left alone.
  if (item.type !== "TASK") return { action: "reject", reason: 'type: must be "TASK"' };
  const problem = issueUrlProblem(item.task_id);
  if (problem) return { action: "reject", reason: `task_id: ${problem}` };
  return { action: "dispatch", taskId: item.task_id as string };
}

/** The task ids a batch of stream records asks to dispatch, in stream order, each once. */
export function tasksToDispatch(records: DynamoDBRecord[]): string[] {
  const ids = records.flatMap((record) => {
    const decision = dispatchDecision(record);
    return decision.action === "dispatch" ? [decision.taskId] : [];
  });
  return [...new Set(ids)];
}

export const DISPATCH_QUEUE_METRICS = {
  enqueued: "TasksEnqueuedForDispatch",
} as const;

/** SendMessageBatch takes at most 10 entries. */
export const SEND_BATCH_SIZE = 10;

/** The dispatch queue's message body (checked by the worker's `dispatchMessageSchema`). */
export interface DispatchMessage {
  task_id: string;
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
      const taskIds = tasksToDispatch(event.Records);
      for (let start = 0; start < taskIds.length; start += SEND_BATCH_SIZE) {
        const chunk = taskIds.slice(start, start + SEND_BATCH_SIZE);
        const { Failed = [] } = await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map((taskId, index) => ({
              Id: String(index),
              MessageBody: JSON.stringify({ task_id: taskId } satisfies DispatchMessage),
            })),
          }),
        );
        const sent = chunk.length - Failed.length;
        if (sent > 0) metrics.addMetric(DISPATCH_QUEUE_METRICS.enqueued, MetricUnit.Count, sent);
        if (Failed.length > 0) {
          throw new DispatchEnqueueError(
            Failed.map((f) => ({
              task_id: chunk[Number(f.Id)] ?? `entry ${f.Id}`,
              code: f.Code ?? "Unknown",
              sender_fault: f.SenderFault ?? false,
            })),
          );
        }
      }
      if (taskIds.length > 0) logger.info("Tasks enqueued for dispatch", { task_ids: taskIds });
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
