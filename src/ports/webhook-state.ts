import type { PullRequestRef } from "../domain/webhooks/interpret.js";

export interface DeliveryRecord {
  delivery_id: string;
  event: string;
  action?: string;
  received_at: string;
}

/** Webhook bookkeeping: delivery dedupe and the pull request → issue links. */
export interface WebhookStateRepository {
  /** True when this delivery id was already processed (and not yet expired). */
  seen(deliveryId: string): Promise<boolean>;

  /**
   * Remembers a processed delivery with a conditional write; `false` when another worker remembered
   * it first (a parallel duplicate). The record expires after the configured TTL.
   */
  remember(delivery: DeliveryRecord): Promise<boolean>;

  /** Adds `taskIds` to the issues the pull request closes. */
  linkPullRequest(pr: PullRequestRef, taskIds: string[]): Promise<void>;

  /** Issues the pull request closes, as learnt from its body. */
  tasksForPullRequest(pr: PullRequestRef): Promise<string[]>;
}
