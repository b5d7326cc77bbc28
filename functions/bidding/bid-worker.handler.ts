import type { SQSHandler } from "aws-lambda";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createMarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createBidService } from "../../src/domain/bidding/bid.service.js";
import { createObservability } from "../../src/observability.js";
import type { AwardTrigger } from "../../src/ports/award-trigger.js";
import { createBidBatchHandler } from "../../src/workers/bid-worker.js";
import { lazily } from "../shared/container.js";

/**
 * Early award off: this entry point leaves every award to the deadline sweeper. The composition
 * root passes the award service as `awards` to give the bid worker its early award (every invited
 * agent has answered).
 */
const deadlineOnly: AwardTrigger = { awardIfDue: async () => {} };

/** The bids queue's batch handler over the marketplace table. */
export function buildBidWorker(config: Config, awards: AwardTrigger = deadlineOnly) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "bid-worker" } });
  const client = createDocumentClient(
    createDynamoClient({
      region: config.region,
      requireLocal: config.local,
      ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
    }),
  );
  const service = createMarketplaceService({ client, table: config.tableName });
  const bids = createBidService({
    agents: createAgentRepository({ service }),
    bidding: createBiddingRepository({ service }),
    awards,
  });
  return { logger, handle: createBidBatchHandler({ bids, logger, metrics }) };
}

const getBidWorker = lazily(() => buildBidWorker(loadConfig()));

/** Bids queue consumer: one failed record fails only itself (ReportBatchItemFailures). */
export const handler: SQSHandler = async (event, context) => {
  const worker = await getBidWorker();
  worker.logger.addContext(context);
  return worker.handle(event, context);
};
