import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import * as z from "zod";
import type { DispatchService } from "../domain/bidding/dispatch.service.js";
import { issueUrlSchema } from "../domain/common.schema.js";
import { isDomainError } from "../domain/errors.js";

export const DISPATCH_METRICS = {
  dispatched: "TasksDispatched",
  skipped: "TasksNotDispatched",
  delivered: "BidRequestsDelivered",
  failed: "BidRequestsFailed",
  rejected: "DispatchRecordsRejected",
} as const;

/** What the dispatcher does with one table stream record. */
export type StreamDecision =
  | { action: "dispatch"; taskId: string }
  | { action: "ignore" }
  | { action: "reject"; reason: string };

/** The part of a new task item the dispatcher reads; everything else in the image is left alone. */
const taskImageSchema = z.looseObject({
  type: z.literal("TASK"),
  task_id: issueUrlSchema,
});

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
  const result = taskImageSchema.safeParse(item);
  if (!result.success) {
    const reason = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    return { action: "reject", reason };
  }
  return { action: "dispatch", taskId: result.data.task_id };
}

/** The task ids a batch of stream records asks to dispatch, in stream order, each once. */
export function tasksToDispatch(records: DynamoDBRecord[]): string[] {
  const ids = records.flatMap((record) => {
    const decision = dispatchDecision(record);
    return decision.action === "dispatch" ? [decision.taskId] : [];
  });
  return [...new Set(ids)];
}

export interface DispatchStreamOptions {
  dispatcher: Pick<DispatchService, "dispatch">;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Handles one stream record. Permanent problems (an unreadable task image, a task that no longer
 * exists, any other domain error) are logged and acknowledged. Anything else thrown is transient (a
 * DynamoDB outage) and fails this record: Lambda retries the shard from it, and since dispatch only
 * sends what is not yet delivered, records that are processed again resend nothing. A failing agent
 * endpoint is not a record failure: it is recorded on the agent's bid item and logged.
 */
export function createDispatchRecordHandler({ dispatcher, logger, metrics }: DispatchStreamOptions) {
  return async (record: DynamoDBRecord): Promise<void> => {
    const decision = dispatchDecision(record);
    if (decision.action === "ignore") return;
    const sequence_number = record.dynamodb?.SequenceNumber;
    if (decision.action === "reject") {
      logger.error("Dropping unreadable task stream record", { sequence_number, reason: decision.reason });
      metrics.addMetric(DISPATCH_METRICS.rejected, MetricUnit.Count, 1);
      return;
    }
    await dispatchAndReport(decision.taskId, { dispatcher, logger, metrics });
  };
}

/**
 * Dispatches one task and reports it (logs and metrics). Domain errors (the task is gone or not
 * dispatchable) are logged and swallowed, since retrying cannot fix them; anything else is transient
 * and rethrown. Shared by the stream handler and the dispatch queue worker.
 */
export async function dispatchAndReport(
  taskId: string,
  { dispatcher, logger, metrics }: DispatchStreamOptions,
): Promise<void> {
  let summary: Awaited<ReturnType<DispatchService["dispatch"]>>;
  try {
    summary = await dispatcher.dispatch(taskId);
  } catch (error) {
    if (!isDomainError(error)) throw error;
    logger.warn("Task not dispatched", { task_id: taskId, code: error.code, reason: error.message });
    metrics.addMetric(DISPATCH_METRICS.rejected, MetricUnit.Count, 1);
    return;
  }
  const { failures, ...counts } = summary;
  if (summary.skipped) {
    logger.info("Task not dispatched", counts);
    metrics.addMetric(DISPATCH_METRICS.skipped, MetricUnit.Count, 1);
    return;
  }
  logger.info("Bid requests sent", counts);
  for (const failure of failures) {
    logger.warn("Bid request not delivered", { task_id: summary.task_id, ...failure });
  }
  metrics.addMetric(DISPATCH_METRICS.dispatched, MetricUnit.Count, 1);
  metrics.addMetric(DISPATCH_METRICS.delivered, MetricUnit.Count, summary.delivered);
  metrics.addMetric(DISPATCH_METRICS.failed, MetricUnit.Count, summary.failed);
}

/**
 * The table stream's batch handler: Powertools batch processing with partial batch responses
 * (`batchItemFailures` carry each failed record's `SequenceNumber`). Records are handled one after
 * another, since each dispatch already runs its deliveries in parallel.
 */
export function createDispatchStreamHandler(options: DispatchStreamOptions) {
  const recordHandler = createDispatchRecordHandler(options);
  const processor = new BatchProcessor(EventType.DynamoDBStreams);
  return async (event: DynamoDBStreamEvent, context?: Context): Promise<DynamoDBBatchResponse> => {
    try {
      return await processPartialResponse(event, recordHandler, processor, {
        processInParallel: false,
        ...(context ? { context } : {}),
      });
    } finally {
      if (options.metrics.hasStoredMetrics()) options.metrics.publishStoredMetrics();
    }
  };
}
