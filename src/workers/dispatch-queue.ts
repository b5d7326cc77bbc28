import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBStreamEvent, SQSRecord } from "aws-lambda";
import * as z from "zod";
import type { DispatchService } from "../domain/bidding/dispatch.service.js";
import { issueUrlSchema } from "../domain/common.schema.js";
import { DISPATCH_METRICS, dispatchAndReport, dispatchDecision, tasksToDispatch } from "./dispatch-stream.js";
import { createInOrderSqsBatchHandler } from "./sqs-batch.js";

/**
 * The dispatch queue decouples "a task was created" (the table stream) from "send its bid requests"
 * (slow, fans out to every capable agent): a small stream function enqueues the ids of new tasks and a
 * queue worker dispatches them, one task per message, with SQS retries and a DLQ.
 */

export const DISPATCH_QUEUE_METRICS = {
  enqueued: "TasksEnqueuedForDispatch",
} as const;

/** SendMessageBatch takes at most 10 entries. */
export const SEND_BATCH_SIZE = 10;

/** The dispatch queue's message body. */
export const dispatchMessageSchema = z.looseObject({ task_id: issueUrlSchema });
export type DispatchMessage = z.output<typeof dispatchMessageSchema>;

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

export interface DispatchQueueWorkerOptions {
  dispatcher: Pick<DispatchService, "dispatch">;
  logger: Logger;
  metrics: Metrics;
}

function parseMessage(body: string): DispatchMessage | string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return "body is not JSON";
  }
  const result = dispatchMessageSchema.safeParse(json);
  if (result.success) return result.data;
  return result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

/**
 * Handles one dispatch queue record with the same logging and metrics as the stream dispatcher. A
 * malformed message and any domain error (the task no longer exists) are permanent: logged, counted
 * and acknowledged. Anything else thrown is transient (a DynamoDB outage) and fails only this record,
 * so SQS redelivers it and, after maxReceiveCount, moves it to the DLQ. Redelivery resends nothing
 * already delivered. A failing agent endpoint is not a record failure: it is recorded on the agent's
 * bid item and logged.
 */
export function createDispatchQueueRecordHandler({
  dispatcher,
  logger,
  metrics,
}: DispatchQueueWorkerOptions) {
  return async (record: SQSRecord): Promise<void> => {
    const message = parseMessage(record.body);
    if (typeof message === "string") {
      logger.error("Dropping malformed dispatch message", { message_id: record.messageId, reason: message });
      metrics.addMetric(DISPATCH_METRICS.rejected, MetricUnit.Count, 1);
      return;
    }
    await dispatchAndReport(message.task_id, { dispatcher, logger, metrics });
  };
}

/** The dispatch queue's batch handler: see {@link createInOrderSqsBatchHandler}. */
export function createDispatchQueueBatchHandler(options: DispatchQueueWorkerOptions) {
  return createInOrderSqsBatchHandler(createDispatchQueueRecordHandler(options), options.metrics);
}
