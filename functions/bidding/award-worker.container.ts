import { type Config, loadConfig } from "../../src/config.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createAwardWorkerBatchHandler } from "../../src/workers/award-worker.js";
import { buildAwardService } from "../shared/marketplace.js";

/** The award queue's consumer: one award run per "award due" message. */
export function buildAwardWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "award-worker" } });
  const awards = buildAwardService(config, logger);
  return { logger, handle: createAwardWorkerBatchHandler({ awards, logger, metrics }) };
}

export const getAwardWorker = lazily(() => buildAwardWorker(loadConfig()));
