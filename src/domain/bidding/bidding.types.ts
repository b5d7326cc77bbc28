export const BID_STATUSES = ["INVITED", "ACCEPTED", "DECLINED"] as const;
export type BidStatus = (typeof BID_STATUSES)[number];

export const DELIVERY_STATUSES = ["PENDING", "DELIVERED", "FAILED"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * Why an agent message was refused. A signed, fresh message's rejection is stored on the task it
 * names; UNSIGNED, BAD_SIGNATURE, UNKNOWN_AGENT, STALE and REPLAY (and MALFORMED before the signature
 * could be checked) are only logged and counted: nothing the sender could not have signed just now
 * is ever written.
 */
export const REJECTION_REASONS = [
  "MALFORMED",
  "UNSIGNED",
  "BAD_SIGNATURE",
  "UNKNOWN_AGENT",
  "STALE",
  "REPLAY",
  "NOT_INVITED",
  "UNKNOWN_TASK",
  "LATE",
  "OVER_BUDGET",
  "DUPLICATE",
  "SUPERSEDED",
  "NOT_AWARDED",
  "BIDDING_CLOSED",
  "AGENT_DISABLED",
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export interface BidRejection {
  type: "BID_REJECTION";
  task_id: string;
  received_at: string;
  message_id: string;
  agent_id?: string;
  message_type?: string;
  /** `<REASON>: <detail>` */
  reason: string;
}

/** Result of delivering one message to one agent endpoint. */
export type DeliveryResult = { ok: true; attempts: number } | { ok: false; attempts: number; error: string };
