import type { PerformanceTotals } from "../agents/performance.js";

/**
 * The award's scoring rule. Pure and deterministic: the same bids and track records always give the
 * same ranking, so parallel award runs agree, and tests can state the winner in advance.
 *
 * For each valid bid, four components in [0, 1]:
 * - price   = cheapest bid / this bid (a bid of 0 scores 1; any other bid scores 0 when one bid is 0);
 * - speed   = fastest estimate / this estimate (estimates are whole seconds > 0);
 * - success = (successes + K × P0) / (outcomes + K), with K = 3 and P0 = 0.7;
 * - quality = (sum of quality scores + K × Q0) / (outcomes + K), with K = 3 and Q0 = 0.6.
 *
 * score = 0.4 × price + 0.3 × success + 0.2 × quality + 0.1 × speed, computed from the exact components
 * and rounded to 6 decimals (so scores that are equal on paper compare equal despite floating point).
 *
 * Ranking: higher score first; then lower price; then the earlier bid (`sent_at`, when the bids queue
 * accepted it, else `answered_at`); then `agent_id` ascending.
 *
 * Why the prior: a raw success rate shuts out new agents (0 outcomes → rate 0) or, if the empty case
 * is given 1, lets a brand-new agent beat every proven one. The Bayesian average starts every agent at
 * P0 = 0.7 as if it had K = 3 outcomes at that rate, and real outcomes move it from there. So a new agent
 * beats one whose record is worse than 70% (5 successes in 10 outcomes → 0.546) and loses to one that
 * has shown better (9 in 10 → 0.854); a first failure drops it to 0.525, a first success lifts it to
 * 0.775. Q0 = 0.6 is what the quality formula gives a task closed as completed with no other evidence,
 * the neutral outcome. K = 3 is small on purpose: after three real outcomes the record weighs as much
 * as the prior, and from then on more, so the record takes over quickly.
 */
export const SCORING = Object.freeze({
  weights: Object.freeze({ price: 0.4, success: 0.3, quality: 0.2, speed: 0.1 }),
  /** Pseudo-outcomes of the prior. */
  priorWeight: 3,
  /** Prior success rate. */
  priorSuccessRate: 0.7,
  /** Prior quality score. */
  priorQuality: 0.6,
});

/** What the rule reads from a bid. */
export interface ScorableBid {
  agent_id: string;
  bid_amount: number;
  estimated_completion_sec: number;
  /** ISO timestamp of the agent's latest answer. */
  answered_at: string;
  /** When the bids queue accepted that answer: independent of worker lag, so preferred for ties. */
  sent_at?: string;
}

/** What the rule reads from an agent's record; an agent without one is scored as new. */
export interface TrackRecord {
  performance_totals: Pick<PerformanceTotals, "outcomes" | "successes" | "quality_micros">;
}

/** Each component in [0, 1], before weighting; reported rounded to 6 decimals (the score uses exact values). */
export interface ScoreComponents {
  price: number;
  success: number;
  quality: number;
  speed: number;
}

/** One bid with its score, best first in the output of {@link rankBids}. */
export interface RankedCandidate<B extends ScorableBid = ScorableBid> {
  /** 1 for the winner. */
  rank: number;
  bid: B;
  score: number;
  components: ScoreComponents;
}

const MICROS = 1_000_000;
const round6 = (n: number) => Math.round(n * MICROS) / MICROS;

function smoothed(sum: number, outcomes: number, prior: number): number {
  return (sum + SCORING.priorWeight * prior) / (outcomes + SCORING.priorWeight);
}

/** Price component: cheapest / this; 0 costs nothing, so it is the best price there is. */
function priceScore(amount: number, cheapest: number): number {
  if (amount === 0) return 1;
  return cheapest / amount;
}

/** Smoothed success rate and quality of an agent (the prior alone for an agent with no record). */
export function smoothedRecord(record: TrackRecord | undefined): { success: number; quality: number } {
  const totals = record?.performance_totals ?? { outcomes: 0, successes: 0, quality_micros: 0 };
  const outcomes = Math.max(0, totals.outcomes);
  return {
    success: smoothed(totals.successes, outcomes, SCORING.priorSuccessRate),
    quality: smoothed(totals.quality_micros / MICROS, outcomes, SCORING.priorQuality),
  };
}

/** Scores one bid against the cheapest price and fastest estimate among the bids. */
export function scoreBid(
  bid: ScorableBid,
  record: TrackRecord | undefined,
  best: { cheapest: number; fastest: number },
): { score: number; components: ScoreComponents } {
  const { success, quality } = smoothedRecord(record);
  const exact: ScoreComponents = {
    price: priceScore(bid.bid_amount, best.cheapest),
    success,
    quality,
    speed: bid.estimated_completion_sec > 0 ? best.fastest / bid.estimated_completion_sec : 1,
  };
  const w = SCORING.weights;
  const score = round6(
    w.price * exact.price + w.success * exact.success + w.quality * exact.quality + w.speed * exact.speed,
  );
  const components: ScoreComponents = {
    price: round6(exact.price),
    success: round6(exact.success),
    quality: round6(exact.quality),
    speed: round6(exact.speed),
  };
  return { score, components };
}

/** The deterministic order: score desc, price asc, earlier bid (sent_at, else answered_at), agent_id asc. */
export function compareCandidates(
  a: Omit<RankedCandidate, "rank">,
  b: Omit<RankedCandidate, "rank">,
): number {
  if (a.score !== b.score) return b.score - a.score;
  if (a.bid.bid_amount !== b.bid.bid_amount) return a.bid.bid_amount - b.bid.bid_amount;
  const at = Date.parse(a.bid.sent_at ?? a.bid.answered_at) - Date.parse(b.bid.sent_at ?? b.bid.answered_at);
  if (at !== 0 && !Number.isNaN(at)) return at;
  if (a.bid.agent_id === b.bid.agent_id) return 0;
  return a.bid.agent_id < b.bid.agent_id ? -1 : 1;
}

/**
 * Ranks valid bids by {@link SCORING}, best first, each with its component scores (for logs and
 * tests). `profiles` maps agent id to its track record; a missing entry is scored as a new agent.
 * Callers filter out invalid bids (not accepted, over budget, ineligible agents) first.
 */
export function rankBids<B extends ScorableBid>(
  bids: readonly B[],
  profiles: ReadonlyMap<string, TrackRecord>,
): RankedCandidate<B>[] {
  if (bids.length === 0) return [];
  const best = {
    cheapest: Math.min(...bids.map((b) => b.bid_amount)),
    fastest: Math.min(...bids.map((b) => b.estimated_completion_sec)),
  };
  return bids
    .map((bid) => ({ bid, ...scoreBid(bid, profiles.get(bid.agent_id), best) }))
    .sort(compareCandidates)
    .map((candidate, index) => ({ rank: index + 1, ...candidate }));
}
