import { describe, expect, it } from "vitest";
import { healthMetricFrom, probeScore } from "../../src/domain/governance/probe-score.js";
import type { ProbeResult } from "../../src/ports/endpoint-prober.js";

const up = (latency_ms: number): ProbeResult => ({ ok: true, latency_ms, status_code: 200 });
const down = (latency_ms: number): ProbeResult => ({
  ok: false,
  latency_ms,
  error: "HTTP 503 from a.example",
});

describe("probeScore", () => {
  it("scores a failed probe 0 however fast it failed", () => {
    expect(probeScore(down(0))).toBe(0);
    expect(probeScore(down(120))).toBe(0);
    expect(probeScore(down(3000))).toBe(0);
  });

  it("scores an answering endpoint 100 up to and including 500 ms", () => {
    expect(probeScore(up(0))).toBe(100);
    expect(probeScore(up(499))).toBe(100);
    expect(probeScore(up(500))).toBe(100);
  });

  it("scores 50 from 5000 ms on", () => {
    expect(probeScore(up(5000))).toBe(50);
    expect(probeScore(up(5001))).toBe(50);
    expect(probeScore(up(60_000))).toBe(50);
  });

  it("is linear in between, rounded to an integer", () => {
    expect(probeScore(up(501))).toBe(100); // 99.99 rounds up
    expect(probeScore(up(545))).toBe(100); // 99.5 rounds half up
    expect(probeScore(up(546))).toBe(99); // 99.49
    expect(probeScore(up(2750))).toBe(75); // the midpoint
    expect(probeScore(up(4955))).toBe(51); // 50.5 rounds half up
    expect(probeScore(up(4956))).toBe(50); // 50.49
    expect(probeScore(up(4999))).toBe(50);
  });

  it("never rises as latency grows, and stays an integer within 50–100", () => {
    let previous = 100;
    for (let latency = 0; latency <= 6000; latency += 7) {
      const score = probeScore(up(latency));
      expect(Number.isInteger(score)).toBe(true);
      expect(score).toBeLessThanOrEqual(previous);
      expect(score).toBeGreaterThanOrEqual(50);
      previous = score;
    }
  });
});

describe("healthMetricFrom", () => {
  const at = new Date("2025-07-01T12:00:00.000Z");

  it("records an up probe as full uptime, no errors, and its latency", () => {
    expect(healthMetricFrom("agent-1", up(230), at)).toEqual({
      agent_id: "agent-1",
      uptime_percentage: 100,
      error_rate: 0,
      avg_latency_ms: 230,
      recorded_at: "2025-07-01T12:00:00.000Z",
    });
  });

  it("records a failed probe as no uptime, all errors, and the time it took to fail", () => {
    expect(healthMetricFrom("agent-2", down(3000), at)).toEqual({
      agent_id: "agent-2",
      uptime_percentage: 0,
      error_rate: 1,
      avg_latency_ms: 3000,
      recorded_at: "2025-07-01T12:00:00.000Z",
    });
  });

  it("keeps an ISO string timestamp as given", () => {
    expect(healthMetricFrom("agent-3", up(10), "2025-07-02T08:30:00.123Z").recorded_at).toBe(
      "2025-07-02T08:30:00.123Z",
    );
  });
});
