import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createMarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { createSqsIntakeQueue } from "../../src/adapters/sqs/intake-queue.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createAgentService } from "../../src/domain/agents/agent.service.js";
import { createLedgerService } from "../../src/domain/ledger/ledger.service.js";
import { createTaskService } from "../../src/domain/tasks/task.service.js";
import { createWebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { createRestApi } from "../../src/http/rest-api.js";
import { createWebhookReceiver, type WebhookReceiver } from "../../src/http/webhook-receiver.js";
import { createObservability } from "../../src/observability.js";
import { createIntakeBatchHandler } from "../../src/workers/intake-worker.js";

/**
 * The composition root: the only place that turns configuration into clients, repositories and
 * services. Each Lambda builds what it needs once per container (SDK clients at container scope);
 * tests and the local stack call the same builders with local endpoints.
 */

/** Domain services over the marketplace table. */
export function buildMarketplaceServices(config: Config) {
  const client = createDocumentClient(
    createDynamoClient({
      region: config.region,
      requireLocal: config.local,
      ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
    }),
  );
  const service = createMarketplaceService({ client, table: config.tableName });
  const agentRepository = createAgentRepository({ service });
  const taskRepository = createTaskRepository({ service });
  return {
    agents: createAgentService({
      agents: agentRepository,
      endpointPolicy: { allowLoopback: config.local },
    }),
    tasks: createTaskService({ tasks: taskRepository }),
    ledger: createLedgerService({ tasks: taskRepository }),
    webhooks: createWebhookService({
      tasks: taskRepository,
      state: createWebhookStateRepository({ service, deliveryTtlSeconds: config.deliveryTtlSeconds }),
      marketplaceLabel: config.marketplaceLabel,
      humanInterventionLabel: config.humanInterventionLabel,
      bidWindowSeconds: config.bidWindowSeconds,
    }),
  };
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
  const client = createSqsClient({
    region: config.region,
    requireLocal: config.local,
    ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
  });
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
