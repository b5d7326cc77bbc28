import * as z from "zod";
import { agentIdSchema, amountSchema, issueUrlSchema } from "../common.schema.js";

/**
 * Message attribute (SQS) or header (HTTPS) carrying `sha256=<hex HMAC-SHA256 of the exact body with
 * the agent's secret>`, in both directions.
 */
export const SIGNATURE_ATTRIBUTE = "X-AgentForge-Signature";

/** The protocol version these schemas describe: every body carries `sent_at` and `nonce`. */
export const PROTOCOL_VERSION = 2;

/** `sent_at`: ISO 8601 in UTC with a `Z`, a real instant. Kept as sent: the signature covers it. */
export const sentAtSchema = z
  .string({ error: "must be a string" })
  .regex(
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/,
    "must be an ISO 8601 UTC instant like 2026-12-07T10:00:00.000Z",
  )
  .refine(isRealInstant, "must be a real instant");

/** Whether the calendar fields survive a round trip (so no 30 February, no 25:00). */
function isRealInstant(value: string): boolean {
  const ms = Date.parse(value);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === value.slice(0, 19);
}

/** `nonce`: unique per sender; it ends up in a key, so only characters that are safe there. */
export const nonceSchema = z
  .string({ error: "must be a string" })
  .regex(/^[A-Za-z0-9._~:-]{16,128}$/, "must be 16-128 characters of A-Z a-z 0-9 . _ ~ : -");

const envelope = { sent_at: sentAtSchema, nonce: nonceSchema };

const estimateSchema = z
  .number({ error: "must be a number" })
  .int("must be a whole number of seconds")
  .positive("must be > 0")
  .max(365 * 24 * 3600, "must be at most a year");

/** An agent's offer for a task. */
export const bidMessageSchema = z.strictObject({
  type: z.literal("BID"),
  task_id: issueUrlSchema,
  agent_id: agentIdSchema,
  bid_amount: amountSchema,
  estimated_completion_sec: estimateSchema,
  ...envelope,
});

/** An agent's refusal to bid. */
export const declineMessageSchema = z.strictObject({
  type: z.literal("DECLINE"),
  task_id: issueUrlSchema,
  agent_id: agentIdSchema,
  ...envelope,
});

/** The winner's actual cost once done. */
export const costReportMessageSchema = z.strictObject({
  type: z.literal("COST_REPORT"),
  task_id: issueUrlSchema,
  agent_id: agentIdSchema,
  actual_cost: amountSchema,
  ...envelope,
});

/** Everything an agent may put on the bids queue. */
export const agentMessageSchema = z.discriminatedUnion("type", [
  bidMessageSchema,
  declineMessageSchema,
  costReportMessageSchema,
]);

export type BidMessage = z.output<typeof bidMessageSchema>;
export type DeclineMessage = z.output<typeof declineMessageSchema>;
export type CostReportMessage = z.output<typeof costReportMessageSchema>;
export type AgentMessage = z.output<typeof agentMessageSchema>;

/** The fields the sender stamps on every message, inside the signed body. */
export interface Envelope {
  /** When it was sent, ISO 8601 UTC. */
  sent_at: string;
  /** Never reused by the same sender. */
  nonce: string;
}

/**
 * Call for proposals sent to each capable agent's endpoint. `agent_id` is the recipient, so a copy
 * sent to one agent means nothing to another.
 */
export interface BidRequest {
  type: "BID_REQUEST";
  task_id: string;
  agent_id: string;
  title: string;
  capabilities: string[];
  budget: number | null;
  deadline: string;
  reply_to: string;
}

/** Sent to the winner once the award is final. */
export interface AwardNotice {
  type: "AWARD";
  task_id: string;
  agent_id: string;
  bid_amount: number;
  awarded_at: string;
  reply_to: string;
}

/** Sent to every other bidder. */
export interface RejectionNotice {
  type: "REJECTION";
  task_id: string;
  agent_id: string;
  reason: string;
}

/**
 * Everything the marketplace sends to an agent's endpoint, before the sender stamps the
 * {@link Envelope} on it and signs it.
 */
export type MarketplaceMessage = BidRequest | AwardNotice | RejectionNotice;

/** A marketplace message as it goes on the wire. */
export type SealedMarketplaceMessage = MarketplaceMessage & Envelope;
