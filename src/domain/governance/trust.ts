import { SCORING, smoothedRecord } from "../bidding/scoring.js";
import type { AuditLevel, HealthSummary } from "./governance.types.js";

/**
 * The trust score: one number 0–100 per agent, and the tier it maps to.
 *
 * Three pillars, each 0–100:
 * - **performance** (from the ledger, via the profile's exact sums):
 *   `100 × (0.7 × success + 0.3 × quality)`, where success and quality are the Bayesian averages the
 *   award's scoring rule uses (`scoring.ts`: K = 3 pseudo-outcomes at 70% success and 0.6 quality), so
 *   a new agent starts at 100 × (0.7 × 0.7 + 0.3 × 0.6) = 67 and real outcomes move it from there;
 * - **reliability** (health probes of the last 7 days): mean uptime percentage × (1 − mean error
 *   rate); 50 when there is no probe in the window (unknown is neither good nor bad);
 * - **probe**: the latest probe score (`probe-score.ts`); 50 before the first probe.
 *
 * `trust = round(0.5 × performance + 0.3 × reliability + 0.2 × probe)`, clamped to 0–100, and at most
 * 49 (Bronze) when the reliability pillar is measured and below 50: a record, however good, does not
 * make up for an endpoint that was down half the week.
 *
 * Tiers: **Platinum** ≥ 90, **Gold** ≥ 75, **Silver** ≥ 50, **Bronze** below 50.
 *
 * What that means in practice: a brand-new agent scores 59 (Silver) — it may win awards without a
 * human, since the performance prior already makes it compete on equal terms in the award. One whose
 * endpoint was down for half the week or more falls to Bronze whatever its record, so its awards wait
 * for a human (see `approval-policy.ts`). Platinum needs a proven
 * record and a healthy endpoint: with reliability and probe at 100 it takes performance ≥ 80, i.e.
 * about 10 successes in 10 tasks at quality ≥ 0.7.
 */
export const TRUST = Object.freeze({
  weights: Object.freeze({ performance: 0.5, reliability: 0.3, probe: 0.2 }),
  performanceWeights: Object.freeze({ success: 0.7, quality: 0.3 }),
  /** A measured reliability below this caps trust at {@link TRUST.unreliableCap}. */
  unreliableBelow: 50,
  unreliableCap: 49,
  /** Pillar value when there is no data for it. */
  unknown: 50,
  reliabilityWindowDays: 7,
  tiers: Object.freeze([
    { level: "Platinum", min: 90 },
    { level: "Gold", min: 75 },
    { level: "Silver", min: 50 },
    { level: "Bronze", min: 0 },
  ] as const satisfies ReadonlyArray<{ level: AuditLevel; min: number }>),
});

export interface TrustInputs {
  /** Exact sums from the profile (`performance_totals`). */
  performance: { outcomes: number; successes: number; quality_micros: number };
  /** Health metrics of the last {@link TRUST.reliabilityWindowDays} days; undefined when none. */
  health: HealthSummary | undefined;
  lastProbeScore: number | null;
}

export interface TrustScore {
  trust_score: number;
  audit_level: AuditLevel;
  pillars: { performance: number; reliability: number; probe: number };
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

export function performancePillar(performance: TrustInputs["performance"]): number {
  const { success, quality } = smoothedRecord({ performance_totals: performance });
  const w = TRUST.performanceWeights;
  return clamp(100 * (w.success * success + w.quality * quality), 0, 100);
}

export function reliabilityPillar(health: HealthSummary | undefined): number {
  if (!health || health.samples === 0) return TRUST.unknown;
  return clamp(health.uptime_percentage * (1 - clamp(health.error_rate, 0, 1)), 0, 100);
}

export function tierFor(score: number): AuditLevel {
  for (const { level, min } of TRUST.tiers) if (score >= min) return level;
  return "Bronze";
}

/** Computes the trust score and tier from the three pillars (see {@link TRUST}). */
export function computeTrust({ performance, health, lastProbeScore }: TrustInputs): TrustScore {
  const pillars = {
    performance: performancePillar(performance),
    reliability: reliabilityPillar(health),
    probe: lastProbeScore === null ? TRUST.unknown : clamp(lastProbeScore, 0, 100),
  };
  const w = TRUST.weights;
  const raw =
    w.performance * pillars.performance + w.reliability * pillars.reliability + w.probe * pillars.probe;
  // Round half away from zero on a value nudged off binary-float noise (66.99999999 → 67).
  const rounded = clamp(Math.round(Math.round(raw * 1e6) / 1e6), 0, 100);
  const unreliable =
    health !== undefined && health.samples > 0 && pillars.reliability < TRUST.unreliableBelow;
  const trust_score = unreliable ? Math.min(rounded, TRUST.unreliableCap) : rounded;
  return { trust_score, audit_level: tierFor(trust_score), pillars };
}

/** Prior the performance pillar starts from, for docs and tests. */
export const NEW_AGENT_PERFORMANCE =
  100 *
  (TRUST.performanceWeights.success * SCORING.priorSuccessRate +
    TRUST.performanceWeights.quality * SCORING.priorQuality);
