import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { SQSHandler } from "aws-lambda";
import { loadConfig } from "../../src/config.js";
import { createObservability } from "../../src/observability.js";
import { createIntakeRecordHandler } from "../../src/workers/intake-worker.js";
import { buildMarketplaceServices, lazily } from "../shared/services.js";

const { logger, metrics } = createObservability({ persistentKeys: { function: "intake-worker" } });
const processor = new BatchProcessor(EventType.SQS);
const recordHandler = lazily(() => {
  const { webhooks } = buildMarketplaceServices(loadConfig());
  return createIntakeRecordHandler({ webhooks, logger, metrics });
});

/** Intake queue consumer: one failed record fails only itself (ReportBatchItemFailures). */
export const handler: SQSHandler = async (event, context) => {
  logger.addContext(context);
  try {
    return await processPartialResponse(event, await recordHandler(), processor, { context });
  } finally {
    metrics.publishStoredMetrics();
  }
};
