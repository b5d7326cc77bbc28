import type { EvidencePatch } from "../domain/tasks/evidence.js";
import type { PullRequestRef } from "../domain/webhooks/interpret.js";

export interface DeliveryRecord {
  delivery_id: string;
  event: string;
  action?: string;
  received_at: string;
  /** `processed`, or `rejected` with the reason (a permanent problem with the delivery). */
  result: "processed" | "rejected";
  reason?: string;
}

/** A pull request's linked issues and the evidence stored for it. */
export interface PullRequestState {
  taskIds: string[];
  /** Everything known about the pull request, as a patch to apply to its tasks. */
  evidence: EvidencePatch;
}

/** Webhook bookkeeping: delivery dedupe and pull request links and evidence. */
export interface WebhookStateRepository {
  /** True when this delivery id was already processed (and not yet expired). */
  seen(deliveryId: string): Promise<boolean>;

  /**
   * Remembers a handled delivery with a conditional write; `false` when another worker remembered
   * it first (a parallel duplicate). The record expires after the configured TTL.
   */
  remember(delivery: DeliveryRecord): Promise<boolean>;

  /** Adds `taskIds` to the issues the pull request closes; returns its whole state. */
  linkPullRequest(pr: PullRequestRef, taskIds: string[]): Promise<PullRequestState>;

  /** Stores evidence about the pull request; returns its whole state (with the linked tasks). */
  addPullRequestEvidence(pr: PullRequestRef, patch: EvidencePatch): Promise<PullRequestState>;
}
