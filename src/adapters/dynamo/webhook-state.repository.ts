import {
  asPatch,
  type EvidencePatch,
  emptyEvidence,
  mergeEvidence,
  type TaskEvidence,
} from "../../domain/tasks/evidence.js";
import type { PullRequestRef } from "../../domain/webhooks/interpret.js";
import type {
  DeliveryRecord,
  PullRequestState,
  RememberOutcome,
  WebhookStateRepository,
} from "../../ports/webhook-state.js";
import {
  isConditionalCheckFailed,
  RETRYABLE_TRANSACTION_CODES,
  RetryableConflict,
  withOptimisticRetry,
} from "./dynamo-errors.js";
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
  const { webhookDelivery, webhookBody, pullRequestLink } = service.entities;
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

  async function bodyClaimedBy(bodySha256: string): Promise<string | undefined> {
    const { data } = await webhookBody.get({ body_sha256: bodySha256 }).go({ consistent: true });
    // DynamoDB TTL deletes lazily; an expired claim no longer counts.
    return data !== null && data.expires_at > epochSeconds() ? data.delivery_id : undefined;
  }

  async function rememberDelivery(delivery: DeliveryRecord): Promise<RememberOutcome> {
    try {
      await webhookDelivery.create({ ...delivery, expires_at: epochSeconds() + deliveryTtlSeconds }).go();
      return { remembered: true };
    } catch (error) {
      if (isConditionalCheckFailed(error)) return { remembered: false, duplicate: "delivery" };
      throw error;
    }
  }

  /** The delivery item and the body claim in one transaction: both are written, or neither. */
  function rememberWithBody(delivery: DeliveryRecord, bodySha256: string): Promise<RememberOutcome> {
    const { delivery_id: deliveryId } = delivery;
    return withOptimisticRetry(`delivery ${deliveryId}`, async () => {
      const now = epochSeconds();
      const expires = now + deliveryTtlSeconds;
      const result = await service.transaction
        .write(({ webhookDelivery: deliveries, webhookBody: bodies }) => [
          deliveries.create({ ...delivery, expires_at: expires }).commit(),
          bodies
            .put({
              body_sha256: bodySha256,
              delivery_id: deliveryId,
              event: delivery.event,
              received_at: delivery.received_at,
              expires_at: expires,
            })
            // Free, expired, or this same delivery's own claim (its delivery item may expire first).
            .where(
              (attr, { notExists, eq, lte }) =>
                `${notExists(attr.delivery_id)} OR ${eq(attr.delivery_id, deliveryId)} OR ${lte(attr.expires_at, now)}`,
            )
            .commit(),
        ])
        .go();
      if (!result.canceled) return { remembered: true };
      const [deliveryCode, bodyCode] = result.data.map((item) => item.code);
      if (deliveryCode === "ConditionalCheckFailed") return { remembered: false, duplicate: "delivery" };
      if (bodyCode === "ConditionalCheckFailed") {
        const owner = await bodyClaimedBy(bodySha256);
        // The claim expired or was released between the write and this read: try again.
        if (owner === undefined || owner === deliveryId) throw new RetryableConflict();
        return { remembered: false, duplicate: "body", delivery_id: owner };
      }
      // A parallel twin's transaction on the same items: the next attempt sees what it wrote.
      if (result.data.some((item) => item.code && RETRYABLE_TRANSACTION_CODES.has(item.code))) {
        throw new RetryableConflict();
      }
      throw new Error(
        `Delivery ${deliveryId}: transaction cancelled (${result.data.map((d) => d.code).join(",")})`,
      );
    });
  }

  return {
    async seen(deliveryId) {
      const { data } = await webhookDelivery.get({ delivery_id: deliveryId }).go({ consistent: true });
      // DynamoDB TTL deletes lazily; an expired record no longer counts.
      return data !== null && data.expires_at > epochSeconds();
    },

    bodyClaimedBy,

    remember: (delivery: DeliveryRecord) =>
      delivery.body_sha256 ? rememberWithBody(delivery, delivery.body_sha256) : rememberDelivery(delivery),

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
