import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createMarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import type { Config } from "../../src/config.js";
import { createAgentService } from "../../src/domain/agents/agent.service.js";
import { createLedgerService } from "../../src/domain/ledger/ledger.service.js";
import { createTaskService } from "../../src/domain/tasks/task.service.js";
import { createWebhookService } from "../../src/domain/webhooks/webhook.service.js";

/**
 * Domain services over the marketplace table, built from configuration. SDK clients are created once
 * here, at container scope, and shared by every service.
 */
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
      endpointPolicy: { allowLocalQueues: config.local },
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
