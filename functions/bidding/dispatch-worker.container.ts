import { type Config, loadConfig } from "../../src/config.js";
import { createDispatchService } from "../../src/domain/bidding/dispatch.service.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createDispatchQueueBatchHandler } from "../../src/workers/dispatch-queue.js";
import { required } from "../shared/core.js";
import { buildEndpointSender, buildRepositories, requireBidSecretKey } from "../shared/marketplace.js";

/** Dispatch queue consumer: sends each task's bid requests; a failed task is retried alone, then DLQ'd. */
export function buildDispatchWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "dispatch-worker" } });
  requireBidSecretKey(config);
  const repositories = buildRepositories(config);
  const dispatcher = createDispatchService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    tasks: repositories.tasks,
    sender: buildEndpointSender(config),
    bidsQueueUrl: required(config.bidsQueueUrl, "BIDS_QUEUE_URL"),
  });
  return { logger, handle: createDispatchQueueBatchHandler({ dispatcher, logger, metrics }) };
}

export const getDispatchWorker = lazily(() => buildDispatchWorker(loadConfig()));
