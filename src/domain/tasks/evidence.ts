import type { OutcomeStatus } from "../ledger/ledger.schema.js";
import { qualityScore } from "../ledger/quality.js";

/** Lifecycle facts from GitHub that decide a task's outcome. */
export type LifecycleKind =
  | "closed_completed"
  | "closed_not_planned"
  | "reopened"
  | "human_intervention"
  | "human_intervention_removed";

export interface LifecycleFact {
  kind: LifecycleKind;
  /** GitHub's timestamp for the fact (ISO, normalised). */
  at: string;
}

/** One conclusion of a named check (a check run's name, or a check suite's app). */
export interface CheckObservation {
  name: string;
  conclusion: string;
  at: string;
}

export interface ReviewObservation {
  review_id: string;
  reviewer: string;
  state: "approved" | "changes_requested" | "dismissed";
  /** When the review was submitted. */
  at: string;
}

/**
 * Everything GitHub told us about a task (or a pull request), as maps keyed by the fact's own
 * identity. Merging is a key-wise union, so applying the same delivery twice, or deliveries in any
 * order, yields the same evidence; the outcome is derived from it by GitHub's timestamps.
 * Size stays bounded: lifecycle facts are human actions, reviews are keyed by review id, and each
 * named check keeps only its {@link CHECK_HISTORY} latest conclusions.
 */
export interface TaskEvidence {
  lifecycle: Record<string, LifecycleFact>;
  /** Merged pull requests that close the issue: PR URL → merged_at. */
  merges: Record<string, string>;
  /** Check name → its latest conclusions, oldest first. */
  checks: Record<string, CheckObservation[]>;
  /** Review id → review; a dismissal replaces the review it dismisses. */
  reviews: Record<string, ReviewObservation>;
}

export interface EvidencePatch {
  lifecycle?: LifecycleFact[];
  merges?: Record<string, string>;
  checks?: CheckObservation[];
  reviews?: ReviewObservation[];
}

/** Conclusions kept per check name: enough to judge an outcome against re-runs around its time. */
export const CHECK_HISTORY = 5;

export const emptyEvidence = (): TaskEvidence => ({ lifecycle: {}, merges: {}, checks: {}, reviews: {} });

/** The patch that re-applies all of `evidence` (used to copy a pull request's evidence to a task). */
export function asPatch(evidence: TaskEvidence): EvidencePatch {
  return {
    lifecycle: Object.values(evidence.lifecycle),
    merges: { ...evidence.merges },
    checks: Object.values(evidence.checks).flat(),
    reviews: Object.values(evidence.reviews),
  };
}

/** Key-wise union of `current` and `patch`; `changed: false` when nothing new was learnt. */
export function mergeEvidence(
  current: TaskEvidence,
  patch: EvidencePatch,
): { evidence: TaskEvidence; changed: boolean } {
  const next: TaskEvidence = {
    lifecycle: { ...current.lifecycle },
    merges: { ...current.merges },
    checks: { ...current.checks },
    reviews: { ...current.reviews },
  };
  let changed = false;
  for (const fact of patch.lifecycle ?? []) {
    const key = `${fact.kind}@${fact.at}`;
    if (!next.lifecycle[key]) {
      next.lifecycle[key] = fact;
      changed = true;
    }
  }
  for (const [url, mergedAt] of Object.entries(patch.merges ?? {})) {
    if (next.merges[url] !== mergedAt) {
      next.merges[url] = mergedAt;
      changed = true;
    }
  }
  for (const check of patch.checks ?? []) {
    const history = next.checks[check.name] ?? [];
    if (history.some((c) => c.at === check.at && c.conclusion === check.conclusion)) continue;
    next.checks[check.name] = [...history, check]
      .sort((a, b) => a.at.localeCompare(b.at))
      .slice(-CHECK_HISTORY);
    changed = true;
  }
  for (const review of patch.reviews ?? []) {
    const seen = next.reviews[review.review_id];
    // A dismissal is final whichever of the two deliveries arrives first.
    if (seen && (seen.state === "dismissed" || seen.state === review.state)) continue;
    next.reviews[review.review_id] =
      seen && review.state === "dismissed" ? { ...seen, state: "dismissed" } : review;
    changed = true;
  }
  return { evidence: next, changed };
}

/** On equal timestamps: reopen first, then label removal, closes, and a human-intervention label last. */
const KIND_ORDER: Record<LifecycleKind, number> = {
  reopened: 0,
  human_intervention_removed: 1,
  closed_not_planned: 2,
  closed_completed: 3,
  human_intervention: 4,
};

export interface DesiredOutcome {
  status: OutcomeStatus;
  /** Timestamp of the fact that decides the outcome. */
  decidedAt: string;
  quality_score: number;
  reason: LifecycleKind;
}

/**
 * The outcome the evidence implies, judged by GitHub's timestamps rather than delivery order.
 * Lifecycle facts are replayed in time order:
 * - the human-intervention label → HUMAN_INTERVENTION, and while the label stays on, a later close as
 *   completed is HUMAN_INTERVENTION too (removing the label lifts that);
 * - closed as completed → SUCCESS; closed as not planned → FAILURE;
 * - reopened after an outcome → FAILURE (the outcome no longer stands until the issue closes again).
 * Quality counts only evidence GitHub timestamped at or before the deciding fact, and the reopens
 * before it. `undefined`: no outcome yet.
 */
export function desiredOutcome(evidence: TaskEvidence): DesiredOutcome | undefined {
  const facts = Object.values(evidence.lifecycle).sort(
    (a, b) => a.at.localeCompare(b.at) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind],
  );
  let labelOn = false;
  let decided: { status: OutcomeStatus; fact: LifecycleFact } | undefined;
  for (const fact of facts) {
    switch (fact.kind) {
      case "human_intervention":
        labelOn = true;
        decided = { status: "HUMAN_INTERVENTION", fact };
        break;
      case "human_intervention_removed":
        labelOn = false;
        break;
      case "closed_completed":
        decided = { status: labelOn ? "HUMAN_INTERVENTION" : "SUCCESS", fact };
        break;
      case "closed_not_planned":
        decided = { status: "FAILURE", fact };
        break;
      case "reopened":
        if (decided) decided = { status: "FAILURE", fact };
        break;
    }
  }
  if (!decided) return undefined;

  const at = decided.fact.at;
  const latestByName = Object.values(evidence.checks)
    .map((history) => history.filter((c) => c.at <= at).at(-1))
    .filter((c): c is CheckObservation => c !== undefined);
  const latestByReviewer = new Map<string, ReviewObservation>();
  for (const review of Object.values(evidence.reviews)) {
    if (review.state === "dismissed" || review.at > at) continue;
    const seen = latestByReviewer.get(review.reviewer);
    if (!seen || seen.at < review.at) latestByReviewer.set(review.reviewer, review);
  }
  const quality = qualityScore(decided.status, {
    merged: Object.values(evidence.merges).some((mergedAt) => mergedAt <= at),
    checkConclusions: latestByName.map((c) => c.conclusion),
    reviewStates: [...latestByReviewer.values()].map((r) => r.state),
    reopens: facts.filter((f) => f.kind === "reopened" && f.at < at).length,
  });
  return { status: decided.status, decidedAt: at, quality_score: quality, reason: decided.fact.kind };
}
