import { createSqsDeliveryQueue } from "../../src/adapters/sqs/delivery-queue.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createDispatchService } from "../../src/domain/bidding/dispatch.service.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createDispatchQueueBatchHandler } from "../../src/workers/dispatch-queue.js";
import { required } from "../shared/core.js";
import { buildRepositories } from "../shared/marketplace.js";
import { sqsClient } from "../shared/sqs.js";

/**
 * Dispatch queue consumer: turns each task into one delivery job per agent (bid requests, or the
 * notices of a decided task); a failed task is retried alone, then DLQ'd. It never reads a secret
 * nor contacts an agent.
 */
export function buildDispatchWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "dispatch-worker" } });
  const repositories = buildRepositories(config);
  const dispatcher = createDispatchService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    tasks: repositories.tasks,
    deliveries: createSqsDeliveryQueue({
      client: sqsClient(config),
      queueUrl: required(config.deliveryQueueUrl, "DELIVERY_QUEUE_URL"),
      ...(config.httpsDeliveryQueueUrl ? { httpsQueueUrl: config.httpsDeliveryQueueUrl } : {}),
    }),
    bidsQueueUrl: required(config.bidsQueueUrl, "BIDS_QUEUE_URL"),
  });
  return { logger, handle: createDispatchQueueBatchHandler({ dispatcher, logger, metrics }) };
}

export const getDispatchWorker = lazily(() => buildDispatchWorker(loadConfig()));
