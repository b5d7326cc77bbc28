import type { Context } from "aws-lambda";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createMarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { type Config, loadConfig } from "../../src/config.js";
import type { SweepSummary } from "../../src/domain/bidding/award.service.js";
import { createAwardService } from "../../src/domain/bidding/award.service.js";
import { createObservability } from "../../src/observability.js";
import { createAwardSweeper } from "../../src/workers/award-sweeper.js";
import { lazily } from "../shared/container.js";

/**
 * Wires the award sweeper.
 * TODO(container): move into functions/shared/container.ts next to the other builders.
 */
export function buildAwardSweeper(config: Config) {
  // Missing configuration fails the cold start loudly rather than every sweep.
  if (!config.bidsQueueUrl) throw new Error("BIDS_QUEUE_URL is not configured");
  const { logger, metrics } = createObservability({ persistentKeys: { function: "award-sweeper" } });
  const client = createDocumentClient(
    createDynamoClient({
      region: config.region,
      requireLocal: config.local,
      ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
    }),
  );
  const service = createMarketplaceService({ client, table: config.tableName });
  const sqs = createSqsClient({
    region: config.region,
    requireLocal: config.local,
    ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
  });
  const awards = createAwardService({
    tasks: createTaskRepository({ service }),
    bidding: createBiddingRepository({ service }),
    agents: createAgentRepository({ service }),
    // The dispatcher's routing sender: SQS queues, and SSRF-guarded signed HTTPS (loopback only locally).
    sender: createEndpointSender({
      sqs: createSqsEndpointSender({ client: sqs }),
      https: createHttpsEndpointSender({ allowLoopback: config.local }),
    }),
    bidsQueueUrl: config.bidsQueueUrl,
    logger,
  });
  return { logger, sweep: createAwardSweeper({ awards, logger, metrics }) };
}

const getAwardSweeper = lazily(() => buildAwardSweeper(loadConfig()));

/** Invoked every minute by EventBridge Scheduler: awards every open task past its bid deadline. */
export const handler = async (event: unknown, context: Context): Promise<SweepSummary> => {
  const sweeper = await getAwardSweeper();
  sweeper.logger.addContext(context);
  return sweeper.sweep(event, context);
};
