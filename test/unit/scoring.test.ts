import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  rankBids,
  SCORING,
  type ScorableBid,
  smoothedRecord,
  type TrackRecord,
} from "../../src/domain/bidding/scoring.js";

const T0 = "2030-01-01T00:00:00.000Z";

function bid(agent_id: string, bid_amount: number, overrides: Partial<ScorableBid> = {}): ScorableBid {
  return { agent_id, bid_amount, estimated_completion_sec: 3600, answered_at: T0, ...overrides };
}

/** A track record: `outcomes` tasks, `successes` of them SUCCESS, quality scores summing to `qualitySum`. */
function record(outcomes: number, successes: number, qualitySum: number): TrackRecord {
  return { performance_totals: { outcomes, successes, quality_micros: Math.round(qualitySum * 1_000_000) } };
}

const NEW = record(0, 0, 0);
/** Ten tasks, half of them successful, average quality 0.5. */
const MEDIOCRE = record(10, 5, 5);
/** Ten tasks, nine successful, average quality 0.9. */
const PROVEN = record(10, 9, 9);

describe("the scoring rule's constants", () => {
  it("weights sum to 1, so a score is in [0, 1]", () => {
    const { price, success, quality, speed } = SCORING.weights;
    expect(price + success + quality + speed).toBeCloseTo(1, 12);
    expect(SCORING).toMatchObject({ priorWeight: 3, priorSuccessRate: 0.7, priorQuality: 0.6 });
  });
});

describe("smoothed success rate and quality (prior K = 3, P0 = 0.7, Q0 = 0.6)", () => {
  it.each([
    { name: "no record at all", track: undefined, success: 0.7, quality: 0.6 },
    { name: "a new agent", track: NEW, success: 0.7, quality: 0.6 },
    { name: "one failure with quality 0", track: record(1, 0, 0), success: 0.525, quality: 0.45 },
    { name: "one success with quality 1", track: record(1, 1, 1), success: 0.775, quality: 0.7 },
    { name: "5 of 10, quality 0.5", track: MEDIOCRE, success: 7.1 / 13, quality: 6.8 / 13 },
    { name: "9 of 10, quality 0.9", track: PROVEN, success: 11.1 / 13, quality: 10.8 / 13 },
    {
      name: "1000 of 1000, quality 1",
      track: record(1000, 1000, 1000),
      success: 1002.1 / 1003,
      quality: 1001.8 / 1003,
    },
  ])("$name → success $success, quality $quality", ({ track, success, quality }) => {
    const smoothed = smoothedRecord(track);
    expect(smoothed.success).toBeCloseTo(success, 12);
    expect(smoothed.quality).toBeCloseTo(quality, 12);
  });
});

interface RankingCase {
  name: string;
  bids: ScorableBid[];
  profiles: Record<string, TrackRecord>;
  order: string[];
  /** Expected scores by agent, to 6 decimals. */
  scores?: Record<string, number>;
}

const cases: RankingCase[] = [
  {
    name: "same records and speed: the cheaper bid wins",
    bids: [bid("b", 12), bid("a", 10)],
    profiles: { a: NEW, b: NEW },
    order: ["a", "b"],
    // b: 0.4 × 10/12 + 0.3 × 0.7 + 0.2 × 0.6 + 0.1 × 1
    scores: { a: 0.83, b: 0.763333 },
  },
  {
    name: "a new agent beats an experienced mediocre agent at the same price and speed",
    bids: [bid("mediocre", 10), bid("newcomer", 10)],
    profiles: { mediocre: MEDIOCRE, newcomer: NEW },
    order: ["newcomer", "mediocre"],
    // mediocre: 0.4 + 0.3 × 0.546154 + 0.2 × 0.523077 + 0.1
    scores: { newcomer: 0.83, mediocre: 0.768462 },
  },
  {
    name: "a proven agent beats a new one at the same price and speed",
    bids: [bid("newcomer", 10), bid("proven", 10)],
    profiles: { newcomer: NEW, proven: PROVEN },
    order: ["proven", "newcomer"],
    scores: { proven: 0.922308, newcomer: 0.83 },
  },
  {
    name: "a new agent is not shut out: 30% cheaper, it beats a proven agent",
    bids: [bid("proven", 10), bid("newcomer", 7)],
    profiles: { newcomer: NEW, proven: PROVEN },
    order: ["newcomer", "proven"],
    scores: { newcomer: 0.83, proven: 0.802308 },
  },
  {
    name: "but only 20% cheaper, the proven agent still wins",
    bids: [bid("proven", 10), bid("newcomer", 8)],
    profiles: { newcomer: NEW, proven: PROVEN },
    order: ["proven", "newcomer"],
    scores: { newcomer: 0.83, proven: 0.842308 },
  },
  {
    name: "a zero bid scores 1 on price and every other bid 0",
    bids: [bid("paid", 5), bid("free", 0)],
    profiles: { paid: PROVEN, free: NEW },
    order: ["free", "paid"],
    scores: { free: 0.83, paid: 0.522308 },
  },
  {
    name: "speed counts: same price and record, the faster estimate wins",
    bids: [
      bid("slow", 10, { estimated_completion_sec: 7200 }),
      bid("fast", 10, { estimated_completion_sec: 1800 }),
    ],
    profiles: { slow: NEW, fast: NEW },
    order: ["fast", "slow"],
    scores: { fast: 0.83, slow: 0.755 },
  },
  {
    name: "an agent with no profile entry is scored as new",
    bids: [bid("unknown", 10), bid("mediocre", 10)],
    profiles: { mediocre: MEDIOCRE },
    order: ["unknown", "mediocre"],
    scores: { unknown: 0.83 },
  },
  {
    name: "equal scores: the lower price wins",
    // cheap: 0.4 × 1 + 0.3 × 0.21 + 0.2 × 0.53 + 0.1 × 0.5 = 0.619
    // dear:  0.4 × 0.5 + 0.3 × 0.71 + 0.2 × 0.53 + 0.1 × 1 = 0.619
    bids: [
      bid("dear", 20, { estimated_completion_sec: 100 }),
      bid("cheap", 10, { estimated_completion_sec: 200 }),
    ],
    profiles: { cheap: record(7, 0, 3.5), dear: record(7, 5, 3.5) },
    order: ["cheap", "dear"],
    scores: { cheap: 0.619, dear: 0.619 },
  },
  {
    name: "equal score and price: the earlier answer wins",
    bids: [
      bid("a-late", 10, { answered_at: "2030-01-01T00:00:05.000Z" }),
      bid("z-early", 10, { answered_at: "2030-01-01T00:00:01.000Z" }),
    ],
    profiles: {},
    order: ["z-early", "a-late"],
  },
  {
    name: "equal score, price and answer time: agent_id ascending",
    bids: [bid("agent-c", 10), bid("agent-a", 10), bid("agent-b", 10)],
    profiles: {},
    order: ["agent-a", "agent-b", "agent-c"],
  },
  {
    name: "two zero bids tie on price; the earlier answer wins",
    bids: [
      bid("b", 0, { answered_at: "2030-01-01T00:00:02.000Z" }),
      bid("a", 0, { answered_at: "2030-01-01T00:00:03.000Z" }),
    ],
    profiles: {},
    order: ["b", "a"],
    scores: { a: 0.83, b: 0.83 },
  },
  {
    name: "a single bid wins",
    bids: [bid("only", 99)],
    profiles: { only: MEDIOCRE },
    order: ["only"],
  },
];

describe("rankBids", () => {
  it.each(cases)("$name", ({ bids, profiles, order, scores = {} }) => {
    const ranking = rankBids(bids, new Map(Object.entries(profiles)));

    expect(ranking.map((c) => c.bid.agent_id)).toEqual(order);
    expect(ranking.map((c) => c.rank)).toEqual(order.map((_, i) => i + 1));
    for (const [agentId, score] of Object.entries(scores)) {
      expect(ranking.find((c) => c.bid.agent_id === agentId)?.score).toBeCloseTo(score, 6);
    }
  });

  it("reports the component scores behind each score", () => {
    const [first, second] = rankBids(
      [
        bid("cheap", 10, { estimated_completion_sec: 7200 }),
        bid("dear", 20, { estimated_completion_sec: 3600 }),
      ],
      new Map([["dear", MEDIOCRE]]),
    );

    expect(first?.bid.agent_id).toBe("cheap");
    expect(first?.components).toEqual({ price: 1, success: 0.7, quality: 0.6, speed: 0.5 });
    expect(second?.components).toEqual({ price: 0.5, success: 0.546154, quality: 0.523077, speed: 1 });
    // 0.4 × 0.5 + 0.3 × 7.1/13 + 0.2 × 6.8/13 + 0.1 × 1 = 0.568462 (exact components, rounded score).
    expect(second?.score).toBe(0.568462);
  });

  it("returns nothing for no bids", () => {
    expect(rankBids([], new Map())).toEqual([]);
  });

  it("does not depend on the order bids are given in, and scores stay in [0, 1]", () => {
    const bidArb = fc.record({
      agent_id: fc.stringMatching(/^[a-z]{1,3}$/),
      bid_amount: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })),
      estimated_completion_sec: fc.integer({ min: 1, max: 10_000 }),
      answered_at: fc.constantFrom(T0, "2030-01-01T00:00:01.000Z"),
    });
    const trackArb = fc
      .tuple(fc.nat(50), fc.nat(50), fc.double({ min: 0, max: 1, noNaN: true }))
      .map(([a, b, q]) => record(Math.max(a, b), Math.min(a, b), Math.max(a, b) * q));
    fc.assert(
      fc.property(
        fc.uniqueArray(bidArb, { selector: (b) => b.agent_id, minLength: 1, maxLength: 8 }),
        fc.dictionary(fc.stringMatching(/^[a-z]{1,3}$/), trackArb),
        (bids, records) => {
          const profiles = new Map(Object.entries(records));
          const forward = rankBids(bids, profiles).map((c) => c.bid.agent_id);
          const backward = rankBids([...bids].reverse(), profiles).map((c) => c.bid.agent_id);
          expect(backward).toEqual(forward);
          for (const candidate of rankBids(bids, profiles)) {
            expect(candidate.score).toBeGreaterThanOrEqual(0);
            expect(candidate.score).toBeLessThanOrEqual(1);
          }
        },
      ),
    );
  });
});
