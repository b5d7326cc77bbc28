import type { PullRequestRef } from "../../domain/webhooks/interpret.js";
import type { DeliveryRecord, WebhookStateRepository } from "../../ports/webhook-state.js";
import { isConditionalCheckFailed } from "./dynamo-errors.js";
import type { MarketplaceService } from "./marketplace-service.js";

export interface WebhookStateRepositoryOptions {
  service: MarketplaceService;
  /** Seconds a delivery id is remembered. */
  deliveryTtlSeconds: number;
  /** Seconds a pull request link outlives its last update. */
  linkTtlSeconds?: number;
  now?: () => Date;
}

/** DynamoDB (ElectroDB) implementation of {@link WebhookStateRepository}. */
export function createWebhookStateRepository({
  service,
  deliveryTtlSeconds,
  linkTtlSeconds = 90 * 24 * 3600,
  now = () => new Date(),
}: WebhookStateRepositoryOptions): WebhookStateRepository {
  const { webhookDelivery, pullRequestLink } = service.entities;
  const epochSeconds = () => Math.floor(now().getTime() / 1000);

  return {
    async seen(deliveryId) {
      const { data } = await webhookDelivery.get({ delivery_id: deliveryId }).go({ consistent: true });
      // DynamoDB TTL deletes lazily; an expired record no longer counts.
      return data !== null && data.expires_at > epochSeconds();
    },

    async remember(delivery: DeliveryRecord) {
      try {
        await webhookDelivery.create({ ...delivery, expires_at: epochSeconds() + deliveryTtlSeconds }).go();
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },

    async linkPullRequest(pr: PullRequestRef, taskIds: string[]) {
      if (taskIds.length === 0) return;
      await pullRequestLink
        .upsert({
          repo: pr.repo,
          number: pr.number,
          task_ids: taskIds,
          expires_at: epochSeconds() + linkTtlSeconds,
        })
        .add({ task_ids: taskIds })
        .go();
    },

    async tasksForPullRequest(pr: PullRequestRef) {
      const { data } = await pullRequestLink.get({ repo: pr.repo, number: pr.number }).go();
      return data?.task_ids ?? [];
    },
  };
}
