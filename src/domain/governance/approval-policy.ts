import type { ApprovalPolicy, ApprovalVerdict } from "../bidding/award.service.js";

export const APPROVAL_REASONS = {
  amount: "AMOUNT_ABOVE_THRESHOLD",
  bronze: "BRONZE_TIER",
} as const;

export interface ApprovalPolicyOptions {
  /** Awards whose bid amount is strictly above this wait for a human; undefined = no amount rule. */
  threshold?: number;
}

/**
 * The governance approval rule: an award waits in PENDING_APPROVAL when the winning bid is above
 * `APPROVAL_THRESHOLD`, or when the winner's trust tier (written onto its profile by governance) is
 * Bronze. An agent governance has not scored yet has no tier and is not held: a new agent's computed
 * score is Silver (see `trust.ts`), and holding every newcomer would make the first award of each
 * agent a manual step. Reading the tier from the profile keeps the award path free of Postgres: an
 * outage there delays tier updates but never blocks an award.
 */
export function createApprovalPolicy({ threshold }: ApprovalPolicyOptions = {}): ApprovalPolicy {
  return {
    decide({ bid, profile }): ApprovalVerdict {
      if (threshold !== undefined && bid.bid_amount > threshold) {
        return {
          status: "PENDING_APPROVAL",
          reason: `${APPROVAL_REASONS.amount}: ${bid.bid_amount} > ${threshold}`,
        };
      }
      if (profile.audit_level === "Bronze") {
        return {
          status: "PENDING_APPROVAL",
          reason: `${APPROVAL_REASONS.bronze}: trust score ${profile.trust_score ?? "?"}`,
        };
      }
      return "AWARDED";
    },
  };
}
