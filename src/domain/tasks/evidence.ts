import type { OutcomeStatus } from "../ledger/ledger.schema.js";
import { qualityScore } from "../ledger/quality.js";

/** Lifecycle facts from GitHub that decide a task's outcome. */
export type LifecycleKind = "closed_completed" | "closed_not_planned" | "reopened" | "human_intervention";

export interface LifecycleFact {
  kind: LifecycleKind;
  /** GitHub's timestamp for the fact (ISO, normalised). */
  at: string;
}

export interface CheckObservation {
  id: string;
  conclusion: string;
  at: string;
}

export interface ReviewObservation {
  reviewer: string;
  state: "approved" | "changes_requested" | "dismissed";
  at: string;
}

/**
 * Everything GitHub told us about a task, as maps keyed by the fact's own identity and timestamp.
 * Merging is a plain key-wise union, so applying the same delivery twice, or deliveries in any order,
 * yields the same evidence: the outcome is then derived from it by GitHub's timestamps.
 */
export interface TaskEvidence {
  lifecycle: Record<string, LifecycleFact>;
  /** Merged pull requests that close the issue: PR URL → merged_at. */
  merges: Record<string, string>;
  checks: Record<string, CheckObservation>;
  reviews: Record<string, ReviewObservation>;
}

export interface EvidencePatch {
  lifecycle?: LifecycleFact[];
  merges?: Record<string, string>;
  checks?: CheckObservation[];
  reviews?: ReviewObservation[];
}

export const emptyEvidence = (): TaskEvidence => ({ lifecycle: {}, merges: {}, checks: {}, reviews: {} });

/** Key-wise union of `current` and `patch`; returns `changed: false` when nothing new was learnt. */
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
  const put = <T>(map: Record<string, T>, key: string, value: T) => {
    if (JSON.stringify(map[key]) !== JSON.stringify(value)) {
      map[key] = value;
      changed = true;
    }
  };
  for (const fact of patch.lifecycle ?? []) put(next.lifecycle, `${fact.kind}@${fact.at}`, fact);
  for (const [url, mergedAt] of Object.entries(patch.merges ?? {})) put(next.merges, url, mergedAt);
  for (const check of patch.checks ?? []) put(next.checks, `${check.id}@${check.at}`, check);
  for (const review of patch.reviews ?? []) put(next.reviews, `${review.reviewer}@${review.at}`, review);
  return { evidence: next, changed };
}

/** On equal timestamps a reopen is applied first and a human-intervention label last. */
const KIND_ORDER: Record<LifecycleKind, number> = {
  reopened: 0,
  closed_not_planned: 1,
  closed_completed: 2,
  human_intervention: 3,
};

const STATUS_OF: Record<Exclude<LifecycleKind, "reopened">, OutcomeStatus> = {
  closed_completed: "SUCCESS",
  closed_not_planned: "FAILURE",
  human_intervention: "HUMAN_INTERVENTION",
};

export interface DesiredOutcome {
  status: OutcomeStatus;
  /** Timestamp of the fact that decides the outcome. */
  decidedAt: string;
  quality_score: number;
  reason: LifecycleKind;
}

/** Latest observation per id (or reviewer) at or before `at`. */
function latestBy<T extends { at: string }>(items: T[], keyOf: (item: T) => string, at: string): T[] {
  const latest = new Map<string, T>();
  for (const item of items) {
    if (item.at > at) continue;
    const seen = latest.get(keyOf(item));
    if (!seen || seen.at < item.at) latest.set(keyOf(item), item);
  }
  return [...latest.values()];
}

/**
 * The outcome the evidence implies, judged by GitHub's timestamps rather than delivery order:
 * the latest lifecycle fact decides. `closed` (completed) → SUCCESS, `closed` (not_planned) →
 * FAILURE, the human-intervention label → HUMAN_INTERVENTION, and a reopen after any of those →
 * FAILURE (the earlier outcome no longer stands until the issue closes again). Quality counts only
 * evidence GitHub timestamped at or before the deciding fact. `undefined`: no outcome yet.
 */
export function desiredOutcome(evidence: TaskEvidence): DesiredOutcome | undefined {
  const facts = Object.values(evidence.lifecycle).sort(
    (a, b) => a.at.localeCompare(b.at) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind],
  );
  const latest = facts.at(-1);
  if (!latest) return undefined;
  const earlier = facts.slice(0, -1);
  if (latest.kind === "reopened" && !earlier.some((f) => f.kind !== "reopened")) return undefined;

  const status = latest.kind === "reopened" ? "FAILURE" : STATUS_OF[latest.kind];
  const at = latest.at;
  const quality = qualityScore(status, {
    merged: Object.values(evidence.merges).some((mergedAt) => mergedAt <= at),
    checkConclusions: latestBy(Object.values(evidence.checks), (c) => c.id, at).map((c) => c.conclusion),
    reviewStates: latestBy(Object.values(evidence.reviews), (r) => r.reviewer, at).map((r) => r.state),
    reopens: earlier.filter((f) => f.kind === "reopened").length,
  });
  return { status, decidedAt: at, quality_score: quality, reason: latest.kind };
}
