import * as z from "zod";
import { capabilitiesSchema } from "../agents/agent.schema.js";
import { amountSchema, isoTimestampSchema, issueUrlSchema, plainTextSchema } from "../common.schema.js";

/**
 * OPEN takes bids; CLOSING means an award run has stopped taking bids and is ranking the final set
 * (bids then get BIDDING_CLOSED, so none can slip in between ranking and the award); then AWARDED,
 * PENDING_APPROVAL or NO_BIDS.
 */
export const TASK_STATUSES = ["OPEN", "CLOSING", "PENDING_APPROVAL", "AWARDED", "NO_BIDS", "CLOSED"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const newTaskSchema = z.strictObject({
  task_id: issueUrlSchema,
  // Sent to every invited agent: the webhook edge replaces control characters before it gets here.
  title: plainTextSchema.min(1, "must not be empty").max(1024, "must be at most 1024 characters"),
  required_capabilities: capabilitiesSchema,
  budget: amountSchema.optional(),
  bid_deadline: isoTimestampSchema.optional(),
  repository_id: z.number().int().positive().optional(),
  issue_node_id: plainTextSchema.max(128, "must be at most 128 characters").optional(),
});

/** Validated input for a new task. */
export type NewTask = z.output<typeof newTaskSchema>;
