import { describe, expect, it } from "vitest";
import {
  computeTrust,
  NEW_AGENT_PERFORMANCE,
  performancePillar,
  reliabilityPillar,
  TRUST,
  tierFor,
} from "../../src/domain/governance/trust.js";

const NEW = { outcomes: 0, successes: 0, quality_micros: 0 };
const healthy = { samples: 10, uptime_percentage: 100, error_rate: 0, avg_latency_ms: 120 };
const dead = { samples: 10, uptime_percentage: 0, error_rate: 1, avg_latency_ms: 3000 };

describe("trust score: the documented formula", () => {
  it("starts a new agent at 0.5 × 67 + 0.3 × 50 + 0.2 × 50 = 58.5 → 59, Silver", () => {
    expect(NEW_AGENT_PERFORMANCE).toBeCloseTo(67, 10);
    const trust = computeTrust({ performance: NEW, health: undefined, lastProbeScore: null });
    expect(trust.pillars).toEqual({ performance: 67, reliability: 50, probe: 50 });
    expect(trust.trust_score).toBe(59);
    expect(trust.audit_level).toBe("Silver");
  });

  it("drops an agent whose endpoint is dead for the window to Bronze", () => {
    const trust = computeTrust({ performance: NEW, health: dead, lastProbeScore: 0 });
    expect(trust.pillars.reliability).toBe(0);
    expect(trust.trust_score).toBe(Math.round(0.5 * 67)); // 33.5 → 34
    expect(trust.audit_level).toBe("Bronze");
  });

  it("gives Gold to a new agent with a healthy endpoint and Platinum only with a proven record", () => {
    const fresh = computeTrust({ performance: NEW, health: healthy, lastProbeScore: 100 });
    expect(fresh.trust_score).toBe(84); // 33.5 + 30 + 20 = 83.5 → 84
    expect(fresh.audit_level).toBe("Gold");
    const proven = { outcomes: 10, successes: 10, quality_micros: 8_000_000 };
    // success (10 + 2.1) / 13 = 0.930769..., quality (8 + 1.8) / 13 = 0.753846...
    const expectedPerformance = 100 * (0.7 * (12.1 / 13) + 0.3 * (9.8 / 13));
    expect(performancePillar(proven)).toBeCloseTo(expectedPerformance, 9);
    const trust = computeTrust({ performance: proven, health: healthy, lastProbeScore: 100 });
    expect(trust.trust_score).toBe(Math.round(0.5 * expectedPerformance + 50));
    expect(trust.audit_level).toBe("Platinum");
  });

  it("caps trust at 49 (Bronze) when measured reliability is below 50, however good the record", () => {
    const flawless = { outcomes: 100, successes: 100, quality_micros: 100_000_000 };
    const down = computeTrust({ performance: flawless, health: dead, lastProbeScore: 0 });
    expect(down.pillars.performance).toBeGreaterThan(99); // uncapped: round(49.52) = 50, Silver
    expect(down.trust_score).toBe(49);
    expect(down.audit_level).toBe("Bronze");
    const halfUp = { samples: 2, uptime_percentage: 50, error_rate: 0.5, avg_latency_ms: 10 };
    expect(computeTrust({ performance: flawless, health: halfUp, lastProbeScore: 100 }).trust_score).toBe(49);
    // No samples is unknown (50), not unreliable: no cap.
    expect(computeTrust({ performance: flawless, health: undefined, lastProbeScore: null }).trust_score).toBe(
      75,
    );
  });

  it("reliability is mean uptime × (1 − mean error rate), and unknown without samples", () => {
    expect(reliabilityPillar({ samples: 4, uptime_percentage: 75, error_rate: 0.2, avg_latency_ms: 1 })).toBe(
      60,
    );
    expect(reliabilityPillar(undefined)).toBe(TRUST.unknown);
    expect(reliabilityPillar({ samples: 0, uptime_percentage: 0, error_rate: 0, avg_latency_ms: 0 })).toBe(
      TRUST.unknown,
    );
  });

  it("maps scores to tiers at 50, 75 and 90", () => {
    expect([0, 49, 50, 74, 75, 89, 90, 100].map(tierFor)).toEqual([
      "Bronze",
      "Bronze",
      "Silver",
      "Silver",
      "Gold",
      "Gold",
      "Platinum",
      "Platinum",
    ]);
  });

  it("failures pull the score down monotonically and it stays within 0–100", () => {
    let previous = Number.POSITIVE_INFINITY;
    for (let failures = 0; failures <= 20; failures += 1) {
      const { trust_score } = computeTrust({
        performance: { outcomes: failures, successes: 0, quality_micros: 0 },
        health: dead,
        lastProbeScore: 0,
      });
      expect(trust_score).toBeGreaterThanOrEqual(0);
      expect(trust_score).toBeLessThanOrEqual(previous);
      previous = trust_score;
    }
    expect(previous).toBeLessThan(10);
  });
});
