import type { OutcomeStatus } from "./ledger.schema.js";

/** Evidence about how well a task went, as GitHub reported it up to the outcome's time. */
export interface QualityEvidence {
  /** A merged pull request that closes the issue. */
  merged: boolean;
  /** Latest conclusion per check suite or check run. */
  checkConclusions: string[];
  /** Latest decisive review state per reviewer (`approved` / `changes_requested`). */
  reviewStates: string[];
  /** Times the issue was reopened before this outcome. */
  reopens: number;
}

const PASSING = new Set(["success"]);
const FAILING = new Set(["failure", "timed_out", "cancelled", "action_required", "startup_failure"]);

/** Share of decisive checks that passed; 0.5 (no information) when there are none. */
export function checksScore(conclusions: string[]): number {
  const decisive = conclusions.filter((c) => PASSING.has(c) || FAILING.has(c));
  if (decisive.length === 0) return 0.5;
  return decisive.filter((c) => PASSING.has(c)).length / decisive.length;
}

/** 0 if any reviewer still requests changes, 1 if someone approved, 0.5 with no decisive review. */
export function reviewsScore(states: string[]): number {
  if (states.includes("changes_requested")) return 0;
  if (states.includes("approved")) return 1;
  return 0.5;
}

export const REOPEN_FACTOR = 0.8;

/**
 * The documented quality formula, in [0, 1], rounded to 4 decimals:
 *
 *   E = (merged + checks + reviews) / 3
 *   SUCCESS             → 0.4 + 0.6·E
 *   HUMAN_INTERVENTION  → 0.3·E
 *   FAILURE             → 0
 *   then × 0.8^reopens
 *
 * where merged ∈ {0, 1}, checks = passed / decisive check conclusions (0.5 with none) and
 * reviews = 1 approved / 0 changes requested / 0.5 none. A clean, merged, green, approved success
 * scores 1; closing as completed with no evidence at all scores 0.6.
 */
export function qualityScore(status: OutcomeStatus, evidence: QualityEvidence): number {
  const e =
    ((evidence.merged ? 1 : 0) +
      checksScore(evidence.checkConclusions) +
      reviewsScore(evidence.reviewStates)) /
    3;
  const base = status === "SUCCESS" ? 0.4 + 0.6 * e : status === "HUMAN_INTERVENTION" ? 0.3 * e : 0;
  const score = base * REOPEN_FACTOR ** Math.max(0, evidence.reopens);
  return Math.round(Math.min(1, Math.max(0, score)) * 10_000) / 10_000;
}
