import type { DynamoDBStreamHandler } from "aws-lambda";
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
import { createDispatchService } from "../../src/domain/bidding/dispatch.service.js";
import { createObservability } from "../../src/observability.js";
import { createDispatchStreamHandler } from "../../src/workers/dispatch-stream.js";
import { lazily } from "../shared/container.js";

/**
 * Wires the dispatcher: repositories over the marketplace table, the SQS and HTTPS endpoint senders
 * (loopback HTTP endpoints only in local mode) and the stream batch handler.
 * TODO(container): move into functions/shared/container.ts next to the other builders.
 */
export function buildDispatcher(config: Config) {
  // Missing configuration fails the cold start loudly rather than every record.
  if (!config.bidsQueueUrl) throw new Error("BIDS_QUEUE_URL is not configured");
  const { logger, metrics } = createObservability({ persistentKeys: { function: "dispatcher" } });
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
  const dispatcher = createDispatchService({
    agents: createAgentRepository({ service }),
    bidding: createBiddingRepository({ service }),
    tasks: createTaskRepository({ service }),
    sender: createEndpointSender({
      sqs: createSqsEndpointSender({ client: sqs }),
      https: createHttpsEndpointSender({ allowLoopback: config.local }),
    }),
    bidsQueueUrl: config.bidsQueueUrl,
  });
  return { logger, handle: createDispatchStreamHandler({ dispatcher, logger, metrics }) };
}

const getDispatcher = lazily(() => buildDispatcher(loadConfig()));

/** Table stream consumer: each new TASK item gets its bid requests; failed records are reported alone. */
export const handler: DynamoDBStreamHandler = async (event, context) => {
  const dispatcher = await getDispatcher();
  dispatcher.logger.addContext(context);
  return dispatcher.handle(event, context);
};
