import { type Config, loadConfig } from "../../src/config.js";
import { createWebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createIntakeBatchHandler } from "../../src/workers/intake-worker.js";
import { buildRepositories, type Repositories } from "../shared/marketplace.js";

/** The webhook service over the table: tasks, ledger entries and delivery state from GitHub events. */
export function buildWebhookService(config: Config, repositories: Repositories = buildRepositories(config)) {
  return createWebhookService({
    tasks: repositories.tasks,
    state: repositories.webhookState,
    marketplaceLabel: config.marketplaceLabel,
    humanInterventionLabel: config.humanInterventionLabel,
    bidWindowSeconds: config.bidWindowSeconds,
    ...(config.allowedRepositories ? { allowedRepositories: config.allowedRepositories } : {}),
    ...(config.trustedCheckApps ? { trustedCheckApps: config.trustedCheckApps } : {}),
  });
}

/** The intake queue's batch handler over the webhook service. */
export function buildIntakeWorker(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "intake-worker" } });
  return {
    logger,
    handle: createIntakeBatchHandler({ webhooks: buildWebhookService(config), logger, metrics }),
  };
}

export const getIntakeWorker = lazily(() => buildIntakeWorker(loadConfig()));
