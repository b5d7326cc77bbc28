import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import type { BidReceipt, BidService } from "../domain/bidding/bid.service.js";
import { SIGNATURE_ATTRIBUTE } from "../domain/bidding/messages.js";
import { runWithinInvocation } from "../lib/deadline.js";
import { createInOrderSqsBatchHandler } from "./sqs-batch.js";

export const BID_METRICS = {
  accepted: "BidsAccepted",
  declined: "BidsDeclined",
  rejected: "BidsRejected",
  costReports: "CostReportsRecorded",
  /** Messages whose signature did not hold (unsigned, forged, unknown agent, unattributable): the flood alarm's metric. */
  unauthenticated: "AgentMessagesUnauthenticated",
  /** Signed messages refused as STALE or REPLAY: a captured message re-sent. */
  replayed: "AgentMessagesReplayed",
} as const;

export interface BidWorkerOptions {
  bids: BidService;
  logger: Logger;
  metrics: Metrics;
  /** Stands in for a missing `SentTimestamp` (never missing on Lambda). */
  now?: () => Date;
}

interface RecordHandlerOptions extends BidWorkerOptions {
  /** Collects the tasks whose early-award check waits for the end of the batch; unset, each record checks its own. */
  awardChecks?: Set<string>;
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
 * Handles one bids queue record. A rejected message (malformed, unsigned, forged, stale, replayed,
 * late, over budget, duplicate, uninvited, unknown agent or task, not the awardee) is permanent: the
 * service records it on the task where it may, and it is logged, counted and acknowledged. Anything
 * thrown is transient and fails only this record, so SQS retries it and, after maxReceiveCount,
 * moves it to the DLQ. Bodies, signatures and agent secrets are never logged: only the message id,
 * the body's size, and the ids it names (as `claimed_*` until its signature holds).
 */
export function createBidRecordHandler({ bids, logger, metrics, now, awardChecks }: RecordHandlerOptions) {
  /**
   * Rejections carry a `reason` dimension; flushed on their own so it never lands on other metrics.
   * The undimensioned refusal counters go out first, with the metrics already stored.
   */
  function countRejection(reason: string): void {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    metrics.addDimension("reason", reason);
    metrics.addMetric(BID_METRICS.rejected, MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  }

  function report(receipt: BidReceipt, keys: Record<string, string | number>): void {
    // Until the signature holds, the ids are only what the sender claims: logged under other names.
    const prefix = receipt.status === "rejected" && !receipt.authenticated ? "claimed_" : "";
    const ids = {
      ...keys,
      ...(receipt.task_id ? { [`${prefix}task_id`]: receipt.task_id } : {}),
      ...(receipt.agent_id ? { [`${prefix}agent_id`]: receipt.agent_id } : {}),
      ...(receipt.message_type ? { [`${prefix}message_type`]: receipt.message_type } : {}),
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
      case "rejected": {
        const fields = { ...ids, reason: receipt.reason, detail: receipt.detail };
        if (!receipt.authenticated) {
          metrics.addMetric(BID_METRICS.unauthenticated, MetricUnit.Count, 1);
          countRejection(receipt.reason);
          logger.warn("Agent message refused: not authenticated, nothing written", fields);
        } else if (receipt.reason === "STALE" || receipt.reason === "REPLAY") {
          metrics.addMetric(BID_METRICS.replayed, MetricUnit.Count, 1);
          countRejection(receipt.reason);
          logger.warn("Agent message refused: stale or replayed, nothing written", fields);
        } else {
          countRejection(receipt.reason);
          logger.warn(
            receipt.recorded
              ? "Agent message rejected"
              : "Agent message rejected; not attributable to a task",
            fields,
          );
        }
      }
    }
  }

  return async (record: SQSRecord): Promise<void> => {
    const keys = { message_id: record.messageId, body_bytes: Buffer.byteLength(record.body ?? "", "utf8") };
    const signature = signatureOf(record);
    let receipt: BidReceipt;
    try {
      receipt = await bids.receive(
        {
          body: record.body,
          messageId: record.messageId,
          sentAt: sentAtOf(record, now),
          ...(signature !== undefined ? { signature } : {}),
        },
        awardChecks ? { deferAwardCheck: (taskId) => awardChecks.add(taskId) } : {},
      );
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

/**
 * The queue's batch handler: records in order (see {@link createInOrderSqsBatchHandler}), then one
 * early-award check per task that got an answer in the batch. A burst of answers for one task (the
 * usual shape right after dispatch) so costs one read of its counters per batch, not one per answer.
 * A failed check fails no record: the answers are stored, and the deadline sweeper awards the task.
 */
export function createBidBatchHandler(options: BidWorkerOptions) {
  const { bids, logger } = options;
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    const awardChecks = new Set<string>();
    const handle = createInOrderSqsBatchHandler(
      createBidRecordHandler({ ...options, awardChecks }),
      options.metrics,
    );
    const response = await handle(event, context);
    await runWithinInvocation(context, async () => {
      for (const taskId of awardChecks) {
        const error = await bids.checkAward(taskId);
        if (error !== undefined) {
          logger.warn("Early award check failed; the deadline sweeper will award the task", {
            task_id: taskId,
            error,
          });
        }
      }
    });
    return response;
  };
}
