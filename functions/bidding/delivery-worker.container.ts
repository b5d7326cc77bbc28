import { type Config, loadConfig } from "../../src/config.js";
import { createDeliveryService } from "../../src/domain/bidding/delivery.service.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createDeliveryBatchHandler } from "../../src/workers/delivery-worker.js";
import {
  buildAwardTrigger,
  buildEndpointSender,
  buildRepositories,
  requireBidSecretKey,
} from "../shared/marketplace.js";

/**
 * Delivery queue consumer: signs and sends one message to one agent per record, records the result,
 * keeps each endpoint's circuit, and asks for the award when a failure leaves nobody to wait for.
 */
export function buildDeliveryWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "delivery-worker" } });
  requireBidSecretKey(config);
  const repositories = buildRepositories(config);
  const deliveries = createDeliveryService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    sender: buildEndpointSender(config),
    circuit: repositories.circuit,
    awards: buildAwardTrigger(config, logger, repositories),
    logger,
  });
  return { logger, handle: createDeliveryBatchHandler({ deliveries, logger, metrics }) };
}

export const getDeliveryWorker = lazily(() => buildDeliveryWorker(loadConfig()));
