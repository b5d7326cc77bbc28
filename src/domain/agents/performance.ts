import type { LedgerEntryInput } from "../ledger/ledger.schema.js";

/**
 * Exact running sums behind an agent's performance history. Money is kept in integer micro-units
 * and time in whole seconds, so sums stay exact however many outcomes are added.
 */
export interface PerformanceTotals {
  /** Tasks whose current outcome counts for this agent. */
  outcomes: number;
  successes: number;
  cost_micros: number;
  quality_micros: number;
  completion_sec_total: number;
  /** Outcomes that carried a completion time (the divisor of the time average). */
  timed_outcomes: number;
}

/** The documented `performance_history` map, derived from {@link PerformanceTotals}. */
export interface PerformanceHistory {
  average_cost_per_task: number;
  success_rate: number;
  average_completion_time_sec: number;
  total_tasks_completed: number;
}

export const ZERO_TOTALS: PerformanceTotals = Object.freeze({
  outcomes: 0,
  successes: 0,
  cost_micros: 0,
  quality_micros: 0,
  completion_sec_total: 0,
  timed_outcomes: 0,
});

const MICROS = 1_000_000;
const toMicros = (amount: number) => Math.round(amount * MICROS);
const round6 = (n: number) => Math.round(n * MICROS) / MICROS;

/** What one ledger entry adds to its agent's totals. */
export function contributionOf(
  entry: Pick<LedgerEntryInput, "status" | "actual_cost" | "quality_score" | "completion_time_sec">,
): PerformanceTotals {
  const timed = entry.completion_time_sec !== undefined;
  return {
    outcomes: 1,
    successes: entry.status === "SUCCESS" ? 1 : 0,
    cost_micros: toMicros(entry.actual_cost),
    quality_micros: toMicros(entry.quality_score),
    completion_sec_total: timed ? (entry.completion_time_sec ?? 0) : 0,
    timed_outcomes: timed ? 1 : 0,
  };
}

/** `a + sign × b`, field by field. A correction subtracts the superseded entry's contribution. */
export function addTotals(a: PerformanceTotals, b: PerformanceTotals, sign: 1 | -1 = 1): PerformanceTotals {
  return {
    outcomes: a.outcomes + sign * b.outcomes,
    successes: a.successes + sign * b.successes,
    cost_micros: a.cost_micros + sign * b.cost_micros,
    quality_micros: a.quality_micros + sign * b.quality_micros,
    completion_sec_total: a.completion_sec_total + sign * b.completion_sec_total,
    timed_outcomes: a.timed_outcomes + sign * b.timed_outcomes,
  };
}

/**
 * Derives the documented averages from exact sums (rounded to 6 decimals):
 * - `total_tasks_completed`: tasks with a final outcome of any status;
 * - `success_rate`: SUCCESS outcomes / total_tasks_completed (0 with no outcomes);
 * - `average_cost_per_task`: sum of `actual_cost` / total_tasks_completed;
 * - `average_completion_time_sec`: sum of completion times / outcomes that reported one.
 */
export function deriveHistory(totals: PerformanceTotals): PerformanceHistory {
  const { outcomes, successes, cost_micros, completion_sec_total, timed_outcomes } = totals;
  return {
    average_cost_per_task: outcomes > 0 ? round6(cost_micros / outcomes / MICROS) : 0,
    success_rate: outcomes > 0 ? round6(successes / outcomes) : 0,
    average_completion_time_sec: timed_outcomes > 0 ? round6(completion_sec_total / timed_outcomes) : 0,
    total_tasks_completed: outcomes,
  };
}

/** Mean quality score in [0, 1] for award scoring; `undefined` before the first outcome. */
export function averageQuality(totals: PerformanceTotals): number | undefined {
  return totals.outcomes > 0 ? round6(totals.quality_micros / totals.outcomes / MICROS) : undefined;
}
