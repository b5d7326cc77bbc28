import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { parseDeliveryJob } from "../domain/bidding/delivery.js";
import type { DeliveryOutcome, DeliveryService } from "../domain/bidding/delivery.service.js";
import { runWithinInvocation } from "../lib/deadline.js";

export const DELIVERY_METRICS = {
  bidRequestsDelivered: "BidRequestsDelivered",
  bidRequestsFailed: "BidRequestsFailed",
  noticesDelivered: "NoticesDelivered",
  noticesFailed: "NoticesFailed",
  /** Deliveries not tried because the endpoint's circuit was open. */
  circuitOpen: "DeliveriesSkippedCircuitOpen",
  rejected: "DeliveryJobsRejected",
} as const;

/** A notice that did not get through: failing the record makes SQS offer it again after the visibility timeout. */
export class NoticeNotDelivered extends Error {
  override name = "NoticeNotDelivered";
  constructor(outcome: DeliveryOutcome) {
    super(
      `${outcome.kind} notice to ${outcome.agent_id} for ${outcome.task_id} not delivered: ${outcome.error ?? "unknown"}`,
    );
  }
}

export interface DeliveryWorkerOptions {
  deliveries: Pick<DeliveryService, "deliver">;
  logger: Logger;
  metrics: Metrics;
}

function count(metrics: Metrics, outcome: DeliveryOutcome): void {
  const bid = outcome.kind === "BID_REQUEST";
  const ok = outcome.status === "DELIVERED";
  const name = bid
    ? ok
      ? DELIVERY_METRICS.bidRequestsDelivered
      : DELIVERY_METRICS.bidRequestsFailed
    : ok
      ? DELIVERY_METRICS.noticesDelivered
      : DELIVERY_METRICS.noticesFailed;
  metrics.addMetric(name, MetricUnit.Count, 1);
  if (outcome.circuit_open) metrics.addMetric(DELIVERY_METRICS.circuitOpen, MetricUnit.Count, 1);
}

/**
 * One delivery queue record: one message to one agent. A malformed job is logged, counted and
 * acknowledged (retrying cannot fix it). A bid request's failure is final and acknowledged (it
 * counts as not answering); a notice's failure fails the record, so SQS offers it again after the
 * visibility timeout, up to the queue's maxReceiveCount, then the DLQ (which alarms). Table failures
 * throw and fail only this record.
 */
export function createDeliveryRecordHandler({ deliveries, logger, metrics }: DeliveryWorkerOptions) {
  return async (record: SQSRecord): Promise<void> => {
    const job = parseDeliveryJob(record.body);
    if (typeof job === "string") {
      logger.error("Dropping malformed delivery job", { message_id: record.messageId, reason: job });
      metrics.addMetric(DELIVERY_METRICS.rejected, MetricUnit.Count, 1);
      return;
    }
    const outcome = await deliveries.deliver(job);
    count(metrics, outcome);
    if (outcome.retry) throw new NoticeNotDelivered(outcome);
  };
}

/**
 * The delivery queue's batch handler. Unlike the other queues, records run in parallel: they are
 * independent sends to different agents, and a slow endpoint must not hold up the rest of the batch.
 */
export function createDeliveryBatchHandler(options: DeliveryWorkerOptions) {
  const processor = new BatchProcessor(EventType.SQS);
  const handleRecord = createDeliveryRecordHandler(options);
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    try {
      return await runWithinInvocation(context, () =>
        processPartialResponse(event, handleRecord, processor, {
          processInParallel: true,
          ...(context ? { context } : {}),
        }),
      );
    } finally {
      if (options.metrics.hasStoredMetrics()) options.metrics.publishStoredMetrics();
    }
  };
}
