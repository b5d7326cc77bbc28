import {
  asPatch,
  type EvidencePatch,
  emptyEvidence,
  mergeEvidence,
  type TaskEvidence,
} from "../../domain/tasks/evidence.js";
import type { PullRequestRef } from "../../domain/webhooks/interpret.js";
import type { DeliveryRecord, PullRequestState, WebhookStateRepository } from "../../ports/webhook-state.js";
import { isConditionalCheckFailed, RetryableConflict, withOptimisticRetry } from "./dynamo-errors.js";
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

  /** Read-modify-write of one pull request item, conditioned on the version it read. */
  function updatePullRequest(
    pr: PullRequestRef,
    change: (current: { taskIds: string[]; evidence: TaskEvidence }) => {
      taskIds: string[];
      evidence: TaskEvidence;
    },
  ): Promise<PullRequestState> {
    return withOptimisticRetry(`pull request ${pr.repoId}#${pr.number}`, async () => {
      const key = { repo_id: pr.repoId, number: pr.number };
      const { data } = await pullRequestLink.get(key).go({ consistent: true });
      const current = {
        taskIds: data?.task_ids ?? [],
        evidence: (data?.evidence as TaskEvidence | undefined) ?? emptyEvidence(),
      };
      const next = change(current);
      const fields = {
        task_ids: next.taskIds,
        evidence: next.evidence,
        expires_at: epochSeconds() + linkTtlSeconds,
      };
      try {
        if (data) {
          await pullRequestLink
            .patch(key)
            .set({ ...fields, version: data.version + 1 })
            .where((attr, { eq }) => eq(attr.version, data.version))
            .go();
        } else {
          await pullRequestLink.create({ ...key, ...fields, version: 1 }).go();
        }
      } catch (error) {
        if (isConditionalCheckFailed(error)) throw new RetryableConflict();
        throw error;
      }
      return { taskIds: next.taskIds, evidence: asPatch(next.evidence) };
    });
  }

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

    linkPullRequest: (pr, taskIds) =>
      updatePullRequest(pr, (current) => ({
        taskIds: [...new Set([...current.taskIds, ...taskIds])].sort(),
        evidence: current.evidence,
      })),

    addPullRequestEvidence: (pr, patch: EvidencePatch) =>
      updatePullRequest(pr, (current) => ({
        taskIds: current.taskIds,
        evidence: mergeEvidence(current.evidence, patch).evidence,
      })),
  };
}
