import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { runWithinInvocation } from "../lib/deadline.js";

/**
 * An SQS batch handler over a record handler: Powertools batch processing with partial batch
 * responses, so a record that throws fails only itself. Records run in queue order, not in parallel:
 * the intake queue carries a task's GitHub events in the order GitHub sent them, and the bids queue an
 * agent's successive answers. Metrics are flushed once per batch. Lambda and the local stack run this
 * same function.
 *
 * With a context, every retry loop under the records (`src/lib/retry.ts`) takes its deadline from the
 * invocation's remaining time less a safety margin: a record still retrying then fails (a batch item
 * failure, so SQS redelivers it) before the function's timeout would cut the whole batch off.
 */
export function createInOrderSqsBatchHandler(
  recordHandler: (record: SQSRecord) => Promise<void>,
  metrics: Metrics,
) {
  const processor = new BatchProcessor(EventType.SQS);
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    try {
      return await runWithinInvocation(context, () =>
        processPartialResponse(event, recordHandler, processor, {
          processInParallel: false,
          ...(context ? { context } : {}),
        }),
      );
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
