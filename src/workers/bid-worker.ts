import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import type { BidReceipt, BidService } from "../domain/bidding/bid.service.js";
import { SIGNATURE_ATTRIBUTE } from "../domain/bidding/messages.js";
import { createInOrderSqsBatchHandler } from "./sqs-batch.js";

export const BID_METRICS = {
  accepted: "BidsAccepted",
  declined: "BidsDeclined",
  rejected: "BidsRejected",
  costReports: "CostReportsRecorded",
} as const;

export interface BidWorkerOptions {
  bids: BidService;
  logger: Logger;
  metrics: Metrics;
  /** Stands in for a missing `SentTimestamp` (never missing on Lambda). */
  now?: () => Date;
}

/**
 * The signature message attribute. SQS attribute names are case-sensitive, so only the exact name
 * `X-AgentForge-Signature` counts; a differently cased attribute leaves the message unsigned.
 */
export function signatureOf(record: SQSRecord): string | undefined {
  return record.messageAttributes?.[SIGNATURE_ATTRIBUTE]?.stringValue;
}

/** When the queue accepted the message, as ISO: SQS `SentTimestamp` is epoch milliseconds. */
export function sentAtOf(record: SQSRecord, now: () => Date = () => new Date()): string {
  const ms = Number(record.attributes?.SentTimestamp);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : now().toISOString();
}

/**
 * Handles one bids queue record. A rejected message (malformed, unsigned, forged, late, over budget,
 * duplicate, uninvited, unknown agent or task, not the awardee) is permanent: the service records it
 * on the task where it can, and it is logged, counted and acknowledged. Anything thrown is transient
 * and fails only this record, so SQS retries it and, after maxReceiveCount, moves it to the DLQ.
 * The signature and agent secrets are never logged.
 */
export function createBidRecordHandler({ bids, logger, metrics, now }: BidWorkerOptions) {
  /** Rejections carry a `reason` dimension; flushed on their own so it never lands on other metrics. */
  function countRejection(reason: string): void {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    metrics.addDimension("reason", reason);
    metrics.addMetric(BID_METRICS.rejected, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  }

  function report(receipt: BidReceipt, keys: Record<string, string>): void {
    const ids = {
      ...keys,
      ...(receipt.task_id ? { task_id: receipt.task_id } : {}),
      ...(receipt.agent_id ? { agent_id: receipt.agent_id } : {}),
      ...(receipt.message_type ? { message_type: receipt.message_type } : {}),
    };
    switch (receipt.status) {
      case "accepted":
      case "declined":
        metrics.addMetric(
          receipt.status === "accepted" ? BID_METRICS.accepted : BID_METRICS.declined,
          MetricUnit.Count,
          1,
        );
        logger.info(receipt.status === "accepted" ? "Bid accepted" : "Decline recorded", ids);
        if (receipt.award_error) {
          logger.warn("Early award check failed; the deadline sweeper will award the task", {
            ...ids,
            error: receipt.award_error,
          });
        }
        return;
      case "cost_recorded":
        metrics.addMetric(BID_METRICS.costReports, MetricUnit.Count, 1);
        logger.info("Cost report recorded", ids);
        return;
      case "rejected":
        countRejection(receipt.reason);
        logger.warn(
          receipt.recorded ? "Agent message rejected" : "Agent message rejected; not attributable to a task",
          { ...ids, reason: receipt.reason, detail: receipt.detail },
        );
    }
  }

  return async (record: SQSRecord): Promise<void> => {
    const keys = { message_id: record.messageId };
    const signature = signatureOf(record);
    let receipt: BidReceipt;
    try {
      receipt = await bids.receive({
        body: record.body,
        messageId: record.messageId,
        sentAt: sentAtOf(record, now),
        ...(signature !== undefined ? { signature } : {}),
      });
    } catch (error) {
      logger.error("Bid message failed; SQS will retry it", {
        ...keys,
        receive_count: record.attributes?.ApproximateReceiveCount,
        error: error as Error,
      });
      throw error;
    }
    report(receipt, keys);
  };
}

/** The queue's batch handler: see {@link createInOrderSqsBatchHandler}. */
export function createBidBatchHandler(options: BidWorkerOptions) {
  return createInOrderSqsBatchHandler(createBidRecordHandler(options), options.metrics);
}
