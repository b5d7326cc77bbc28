import type { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createMarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { createSqsIntakeQueue } from "../../src/adapters/sqs/intake-queue.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createAgentService } from "../../src/domain/agents/agent.service.js";
import { createAwardService } from "../../src/domain/bidding/award.service.js";
import { createBidService } from "../../src/domain/bidding/bid.service.js";
import { createDispatchService } from "../../src/domain/bidding/dispatch.service.js";
import { createLedgerService } from "../../src/domain/ledger/ledger.service.js";
import { createTaskService } from "../../src/domain/tasks/task.service.js";
import { createWebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { createRestApi } from "../../src/http/rest-api.js";
import { createWebhookReceiver, type WebhookReceiver } from "../../src/http/webhook-receiver.js";
import { createObservability } from "../../src/observability.js";
import type { AwardTrigger } from "../../src/ports/award-trigger.js";
import { createAwardSweeper } from "../../src/workers/award-sweeper.js";
import { createBidBatchHandler } from "../../src/workers/bid-worker.js";
import { createDispatchStreamHandler } from "../../src/workers/dispatch-stream.js";
import { createIntakeBatchHandler } from "../../src/workers/intake-worker.js";

/**
 * The composition root: the only place that turns configuration into clients, repositories and
 * services. Each Lambda builds what it needs once per container (SDK clients at container scope);
 * tests and the local stack call the same builders with local endpoints.
 */

/** SDK clients and repositories over the marketplace table, created once per container. */
export function buildRepositories(config: Config) {
  const client = createDocumentClient(
    createDynamoClient({
      region: config.region,
      requireLocal: config.local,
      ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
    }),
  );
  const service = createMarketplaceService({ client, table: config.tableName });
  return {
    agents: createAgentRepository({ service }),
    tasks: createTaskRepository({ service }),
    bidding: createBiddingRepository({ service }),
    webhookState: createWebhookStateRepository({ service, deliveryTtlSeconds: config.deliveryTtlSeconds }),
  };
}

function sqsClient(config: Config) {
  return createSqsClient({
    region: config.region,
    requireLocal: config.local,
    ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
  });
}

/** Routes marketplace messages to agents: SQS queues, and SSRF-guarded signed HTTPS (loopback only locally). */
function endpointSender(config: Config) {
  return createEndpointSender({
    sqs: createSqsEndpointSender({
      client: sqsClient(config),
      // Agents' queues may live in any region; locally everything goes to the emulator.
      ...(config.sqsEndpoint ? {} : { clientForRegion: (region: string) => createSqsClient({ region }) }),
    }),
    https: createHttpsEndpointSender({ allowLoopback: config.local }),
  });
}

function requireBidsQueue(config: Config): string {
  // Missing configuration fails the cold start loudly rather than every record.
  if (!config.bidsQueueUrl) throw new Error("BIDS_QUEUE_URL is not configured");
  return config.bidsQueueUrl;
}

/** Domain services over the marketplace table. */
export function buildMarketplaceServices(config: Config) {
  const repositories = buildRepositories(config);
  return {
    repositories,
    agents: createAgentService({
      agents: repositories.agents,
      endpointPolicy: {
        allowLoopback: config.local,
        forbiddenAccountIds: config.marketplaceAccountId ? [config.marketplaceAccountId] : [],
      },
    }),
    tasks: createTaskService({ tasks: repositories.tasks }),
    ledger: createLedgerService({ tasks: repositories.tasks }),
    webhooks: createWebhookService({
      tasks: repositories.tasks,
      state: repositories.webhookState,
      marketplaceLabel: config.marketplaceLabel,
      humanInterventionLabel: config.humanInterventionLabel,
      bidWindowSeconds: config.bidWindowSeconds,
    }),
  };
}

/** The award service; the bid worker uses it for early awards and the sweeper at deadlines. */
export function buildAwardService(config: Config, logger: Logger) {
  const repositories = buildRepositories(config);
  return createAwardService({
    tasks: repositories.tasks,
    bidding: repositories.bidding,
    agents: repositories.agents,
    sender: endpointSender(config),
    bidsQueueUrl: requireBidsQueue(config),
    logger,
  });
}

/** Table stream consumer that sends bid requests for each new task. */
export function buildDispatcher(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "dispatcher" } });
  const repositories = buildRepositories(config);
  const dispatcher = createDispatchService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    tasks: repositories.tasks,
    sender: endpointSender(config),
    bidsQueueUrl: requireBidsQueue(config),
  });
  return { logger, handle: createDispatchStreamHandler({ dispatcher, logger, metrics }) };
}

/**
 * The bids queue's batch handler. `awards` defaults to the award service, which awards a task as
 * soon as every invited agent has answered; the sweeper awards the rest at their deadlines.
 */
export function buildBidWorker(config: Config, awards?: AwardTrigger) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "bid-worker" } });
  const repositories = buildRepositories(config);
  const bids = createBidService({
    agents: repositories.agents,
    bidding: repositories.bidding,
    awards: awards ?? buildAwardService(config, logger),
  });
  return { logger, handle: createBidBatchHandler({ bids, logger, metrics }) };
}

/** The every-minute award sweeper. */
export function buildAwardSweeper(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "award-sweeper" } });
  const awards = buildAwardService(config, logger);
  return { logger, sweep: createAwardSweeper({ awards, logger, metrics }) };
}

export type MarketplaceServices = ReturnType<typeof buildMarketplaceServices>;

/** Everything the webhook receiver's handler needs. */
export interface ReceiverDeps {
  receive: WebhookReceiver["receive"];
}

/**
 * Wires the receiver. The secret is not read here but on the first signed request (and then
 * cached), so a Secrets Manager hiccup answers 503 instead of failing the cold start.
 */
export function buildReceiverDeps(config: Config): ReceiverDeps {
  // Missing configuration fails the cold start loudly (Lambda error metric) rather than every request.
  if (!config.intakeQueueUrl) throw new Error("INTAKE_QUEUE_URL is not configured");
  if (!config.webhookSecret) {
    throw new Error("GITHUB_WEBHOOK_SECRET or GITHUB_WEBHOOK_SECRET_ARN must be configured");
  }
  const { logger, metrics } = createObservability({ persistentKeys: { function: "webhook-receiver" } });
  const client = sqsClient(config);
  const receiver = createWebhookReceiver({
    secret: createSecretResolver({
      name: "GitHub webhook secret",
      source: config.webhookSecret,
      region: config.region,
    }),
    queue: createSqsIntakeQueue({ client, queueUrl: config.intakeQueueUrl }),
    maxBodyBytes: config.webhookMaxBodyBytes,
    logger,
    metrics,
  });
  return { receive: (event, context) => receiver.receive(event, context) };
}

/** The intake queue's batch handler over the marketplace services. */
export function buildIntakeWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "intake-worker" } });
  const { webhooks } = buildMarketplaceServices(config);
  return { logger, handle: createIntakeBatchHandler({ webhooks, logger, metrics }) };
}

/** The bearer-token read API over the marketplace services. */
export function buildRestApi(config: Config) {
  if (!config.apiToken)
    throw new Error("AGENTFORGE_API_TOKEN or AGENTFORGE_API_TOKEN_ARN must be configured");
  const { logger } = createObservability({ persistentKeys: { function: "rest-api" } });
  const { agents, tasks, ledger } = buildMarketplaceServices(config);
  const apiToken = createSecretResolver({
    name: "API token",
    source: config.apiToken,
    region: config.region,
  });
  const handle: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> = createRestApi(
    {
      agents,
      tasks,
      ledger,
      apiToken,
      logger,
    },
  );
  return { logger, handle };
}

/** Caches a container-scoped build; a failed build is not cached, so the next invocation retries. */
export function lazily<T>(build: () => T | Promise<T>): () => Promise<T> {
  let cached: Promise<T> | undefined;
  return () => {
    cached ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        cached = undefined;
        throw error;
      });
    return cached;
  };
}

/** The receiver's dependencies, built on first use and cached for the container's life. */
export const getReceiverDeps = lazily(() => buildReceiverDeps(loadConfig()));
export const getIntakeWorker = lazily(() => buildIntakeWorker(loadConfig()));
export const getRestApi = lazily(() => buildRestApi(loadConfig()));
export const getDispatcher = lazily(() => buildDispatcher(loadConfig()));
export const getBidWorker = lazily(() => buildBidWorker(loadConfig()));
export const getAwardSweeper = lazily(() => buildAwardSweeper(loadConfig()));
