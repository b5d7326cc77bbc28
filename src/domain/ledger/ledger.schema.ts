import * as z from "zod";
import { agentIdSchema, amountSchema, isoTimestampSchema, issueUrlSchema } from "../common.schema.js";

export const OUTCOME_STATUSES = ["SUCCESS", "FAILURE", "HUMAN_INTERVENTION"] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

export const ledgerEntryInputSchema = z.strictObject({
  task_id: issueUrlSchema,
  winning_agent_id: agentIdSchema,
  bid_amount: amountSchema,
  actual_cost: amountSchema,
  status: z.enum(OUTCOME_STATUSES, { error: `must be one of ${OUTCOME_STATUSES.join(", ")}` }),
  quality_score: z
    .number({ error: "must be a number" })
    .refine(Number.isFinite, "must be finite")
    .refine((n) => n >= 0 && n <= 1, "must be between 0 and 1"),
  /** When the outcome happened (GitHub's timestamp); also the ledger sort key. */
  completion_timestamp: isoTimestampSchema,
  /** Seconds from award to outcome, when known. */
  completion_time_sec: z
    .number({ error: "must be a number" })
    .int("must be a whole number of seconds")
    .min(0, "must be >= 0")
    .max(10 * 365 * 24 * 3600, "must be at most ten years")
    .optional(),
});

/** Validated outcome to append to the ledger. */
export type LedgerEntryInput = z.output<typeof ledgerEntryInputSchema>;

/** A stored ledger entry: immutable once written. */
export interface LedgerEntry extends LedgerEntryInput {
  type: "TASK_LEDGER_ENTRY";
  /** `completion_timestamp` of the entry this one supersedes (a correction), if any. */
  supersedes?: string;
  recorded_at: string;
}
