import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

/**
 * An SQS batch handler over a record handler: Powertools batch processing with partial batch
 * responses, so a record that throws fails only itself. Records run in queue order, not in parallel:
 * the intake queue carries a task's GitHub events in the order GitHub sent them, and the bids queue an
 * agent's successive answers. Metrics are flushed once per batch. Lambda and the local stack run this
 * same function.
 */
export function createInOrderSqsBatchHandler(
  recordHandler: (record: SQSRecord) => Promise<void>,
  metrics: Metrics,
) {
  const processor = new BatchProcessor(EventType.SQS);
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    try {
      return await processPartialResponse(event, recordHandler, processor, {
        processInParallel: false,
        ...(context ? { context } : {}),
      });
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
