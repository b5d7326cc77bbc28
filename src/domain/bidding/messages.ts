import { z } from "zod";
import { agentIdSchema, amountSchema, issueUrlSchema } from "../common.schema.js";

/** Message attribute carrying `sha256=<hex HMAC-SHA256 of the body with the agent's secret>`. */
export const SIGNATURE_ATTRIBUTE = "X-AgentForge-Signature";

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
});

/** An agent's refusal to bid. */
export const declineMessageSchema = z.strictObject({
  type: z.literal("DECLINE"),
  task_id: issueUrlSchema,
  agent_id: agentIdSchema,
});

/** The winner's actual cost once done. */
export const costReportMessageSchema = z.strictObject({
  type: z.literal("COST_REPORT"),
  task_id: issueUrlSchema,
  agent_id: agentIdSchema,
  actual_cost: amountSchema,
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

/** Call for proposals sent to each capable agent's endpoint. */
export interface BidRequest {
  type: "BID_REQUEST";
  task_id: string;
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

/** Everything the marketplace sends to an agent's endpoint. */
export type MarketplaceMessage = BidRequest | AwardNotice | RejectionNotice;
