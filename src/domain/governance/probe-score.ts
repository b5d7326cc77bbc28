import type { ProbeResult } from "../../ports/endpoint-prober.js";
import type { HealthMetric } from "./governance.types.js";

/** At or below this latency an answering endpoint scores 100. */
export const PROBE_FAST_MS = 500;
/** At or above this latency an answering endpoint scores 50. */
export const PROBE_SLOW_MS = 5000;

/**
 * The score of one endpoint probe, an integer from 0 to 100:
 *
 * - not ok → 0;
 * - ok and `latency_ms` ≤ 500 → 100;
 * - ok and `latency_ms` ≥ 5000 → 50;
 * - ok in between → linear from 100 (at 500 ms) to 50 (at 5000 ms), rounded to the nearest integer
 *   (`Math.round(100 - 50 * (latency_ms - 500) / 4500)`).
 */
export function probeScore(result: ProbeResult): number {
  if (!result.ok) return 0;
  if (result.latency_ms <= PROBE_FAST_MS) return 100;
  if (result.latency_ms >= PROBE_SLOW_MS) return 50;
  return Math.round(100 - (50 * (result.latency_ms - PROBE_FAST_MS)) / (PROBE_SLOW_MS - PROBE_FAST_MS));
}

/**
 * One probe as a health metric sample: `uptime_percentage` 100 and `error_rate` 0 when the endpoint
 * was up, 0 and 1 when not; `avg_latency_ms` is the probe's latency either way (for a failed probe,
 * the time it took to fail, up to the timeout). `recordedAt` as a Date is written with
 * `toISOString()`; a string is kept as given.
 */
export function healthMetricFrom(
  agentId: string,
  result: ProbeResult,
  recordedAt: Date | string,
): HealthMetric {
  return {
    agent_id: agentId,
    uptime_percentage: result.ok ? 100 : 0,
    error_rate: result.ok ? 0 : 1,
    avg_latency_ms: result.latency_ms,
    recorded_at: typeof recordedAt === "string" ? recordedAt : recordedAt.toISOString(),
  };
}
