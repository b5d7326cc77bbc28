import type { EvidencePatch } from "../domain/tasks/evidence.js";
import type { PullRequestRef } from "../domain/webhooks/interpret.js";

export interface DeliveryRecord {
  delivery_id: string;
  event: string;
  action?: string;
  received_at: string;
  /**
   * `processed`; `rejected` with the reason (a permanent problem with the delivery); or `ignored` with
   * the reason (a delivery the marketplace does not take evidence from, e.g. a repository outside
   * `GITHUB_ALLOWED_REPOSITORIES`).
   */
  result: "processed" | "rejected" | "ignored";
  reason?: string;
  /** SHA-256 (lowercase hex) of the delivery's raw body, when the receiver computed it. */
  body_sha256?: string;
}

/**
 * What {@link WebhookStateRepository.remember} found: the delivery was remembered first; or another
 * worker remembered this delivery id first (a parallel duplicate); or another delivery with the same
 * body was remembered first (`delivery_id` names it: a replay under a new id, or its parallel twin).
 */
export type RememberOutcome =
  | { remembered: true }
  | { remembered: false; duplicate: "delivery" }
  | { remembered: false; duplicate: "body"; delivery_id: string };

/** A pull request's linked issues and the evidence stored for it. */
export interface PullRequestState {
  taskIds: string[];
  /** Everything known about the pull request, as a patch to apply to its tasks. */
  evidence: EvidencePatch;
}

/** Webhook bookkeeping: delivery dedupe and pull request links and evidence. */
export interface WebhookStateRepository {
  /** True when this delivery id was already handled (and not yet expired). */
  seen(deliveryId: string): Promise<boolean>;

  /**
   * The id of the handled delivery whose raw body had this SHA-256 (not yet expired), or `undefined`.
   * A body is claimed only when its delivery is remembered, i.e. once all its work is done, so a
   * delivery that failed half-way never makes another one with the same body a duplicate.
   */
  bodyClaimedBy(bodySha256: string): Promise<string | undefined>;

  /**
   * Remembers a handled delivery with a conditional write and, when it carries `body_sha256`, claims
   * that body in the same transaction (a claim by the same delivery id, or an expired one, is taken
   * over). The records expire after the configured TTL.
   */
  remember(delivery: DeliveryRecord): Promise<RememberOutcome>;

  /** Adds `taskIds` to the issues the pull request closes; returns its whole state. */
  linkPullRequest(pr: PullRequestRef, taskIds: string[]): Promise<PullRequestState>;

  /** Stores evidence about the pull request; returns its whole state (with the linked tasks). */
  addPullRequestEvidence(pr: PullRequestRef, patch: EvidencePatch): Promise<PullRequestState>;
}
