import { type Config, loadConfig } from "../../src/config.js";
import { createBidService } from "../../src/domain/bidding/bid.service.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import type { AwardTrigger } from "../../src/ports/award-trigger.js";
import { createBidBatchHandler } from "../../src/workers/bid-worker.js";

import { buildAwardService, buildRepositories, requireBidSecretKey } from "../shared/marketplace.js";

/**
 * The bids queue's batch handler. `awards` defaults to the award service, which awards a task as
 * soon as every invited agent has answered; the sweeper awards the rest at their deadlines.
 */
export function buildBidWorker(config: Config, awards?: AwardTrigger) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "bid-worker" } });
  requireBidSecretKey(config);
  const repositories = buildRepositories(config);
  const bids = createBidService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    nonces: repositories.nonces,
    awards: awards ?? buildAwardService(config, logger, repositories),
    maxSkewSeconds: config.messageMaxSkewSeconds,
  });
  return { logger, handle: createBidBatchHandler({ bids, logger, metrics }) };
}

export const getBidWorker = lazily(() => buildBidWorker(loadConfig()));
