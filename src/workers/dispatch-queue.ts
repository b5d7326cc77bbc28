import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import * as z from "zod";
import type { DispatchService } from "../domain/bidding/dispatch.service.js";
import { issueUrlSchema } from "../domain/common.schema.js";
import { isDomainError } from "../domain/errors.js";
import { createInOrderSqsBatchHandler } from "./sqs-batch.js";
import { DISPATCH_METRICS, type DispatchMessage } from "./task-stream.js";

/**
 * The dispatch queue decouples what the table stream saw (a task was created; an award became final
 * or a task closed without bids) from the fan-out it causes: a small stream function enqueues the
 * task ids, and this worker turns each into one delivery job per agent (bid requests, or AWARD /
 * REJECTION notices) on the delivery queue, one task per message, with SQS retries and a DLQ.
 */

export {
  createTaskStreamEnqueuer,
  DISPATCH_METRICS,
  DISPATCH_QUEUE_METRICS,
  DispatchEnqueueError,
  type DispatchMessage,
  dispatchDecision,
  SEND_BATCH_SIZE,
  type StreamDecision,
  type TaskStreamEnqueuerOptions,
  tasksToDispatch,
} from "./task-stream.js";

/** The dispatch queue's message body. */
export const dispatchMessageSchema = z.looseObject({
  task_id: issueUrlSchema,
  /** `dispatch` (the default: bid requests of a new task) or `notify` (the notices of a decided one). */
  kind: z.enum(["dispatch", "notify"]).optional(),
});

export interface DispatchQueueWorkerOptions {
  dispatcher: Pick<DispatchService, "dispatch" | "notify">;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Dispatches one task and reports it (logs and metrics). Domain errors (the task is gone or not
 * dispatchable) are logged and swallowed, since retrying cannot fix them; anything else is transient
 * and rethrown.
 */
export async function dispatchAndReport(
  taskId: string,
  { dispatcher, logger, metrics }: DispatchQueueWorkerOptions,
  kind: "dispatch" | "notify" = "dispatch",
): Promise<void> {
  let summary: Awaited<ReturnType<DispatchService["dispatch"]>>;
  try {
    if (kind === "notify") {
      const notified = await dispatcher.notify(taskId);
      logger.info("Notices enqueued", { ...notified });
      metrics.addMetric(DISPATCH_METRICS.noticesEnqueued, MetricUnit.Count, notified.enqueued);
      return;
    }
    summary = await dispatcher.dispatch(taskId);
  } catch (error) {
    if (!isDomainError(error)) throw error;
    logger.warn("Task not dispatched", { task_id: taskId, code: error.code, reason: error.message });
    metrics.addMetric(DISPATCH_METRICS.rejected, MetricUnit.Count, 1);
    return;
  }
  if (summary.skipped) {
    logger.info("Task not dispatched", { ...summary });
    metrics.addMetric(DISPATCH_METRICS.skipped, MetricUnit.Count, 1);
    return;
  }
  logger.info("Bid requests enqueued", { ...summary });
  metrics.addMetric(DISPATCH_METRICS.dispatched, MetricUnit.Count, 1);
  metrics.addMetric(DISPATCH_METRICS.enqueued, MetricUnit.Count, summary.enqueued);
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
 * Handles one dispatch queue record (logs and metrics: {@link dispatchAndReport}). A
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
    await dispatchAndReport(message.task_id, { dispatcher, logger, metrics }, message.kind);
  };
}

/** The dispatch queue's batch handler: see {@link createInOrderSqsBatchHandler}. */
export function createDispatchQueueBatchHandler(options: DispatchQueueWorkerOptions) {
  return createInOrderSqsBatchHandler(createDispatchQueueRecordHandler(options), options.metrics);
}
