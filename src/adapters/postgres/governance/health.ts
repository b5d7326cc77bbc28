import { ValidationError } from "../../../domain/errors.js";
import { HEALTH_METRIC_SOURCES, type HealthMetric } from "../../../domain/governance/governance.types.js";
import type { GovernanceTx } from "../../../ports/governance-store.js";
import type { SqlExecutor } from "../sql-client.js";
import { checkRange, isoTimestamp } from "./rows.js";

/** Health probe results (`health_metrics`), one row per probe, and their averages. */
export function healthTx(sql: SqlExecutor): GovernanceTx["health"] {
  return {
    async record(metric: HealthMetric) {
      checkRange(metric.uptime_percentage, 0, 100, "uptime_percentage");
      checkRange(metric.error_rate, 0, 1, "error_rate");
      checkRange(metric.avg_latency_ms, 0, 2_147_483_647, "avg_latency_ms");
      const source = metric.source ?? "probe";
      if (!(HEALTH_METRIC_SOURCES as readonly string[]).includes(source)) {
        throw new ValidationError("Invalid health metric", [
          { path: "source", message: `must be one of ${HEALTH_METRIC_SOURCES.join(", ")}` },
        ]);
      }
      await sql.query(
        `INSERT INTO health_metrics (agent_id, uptime_percentage, error_rate, avg_latency_ms, recorded_at, source)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          metric.agent_id,
          metric.uptime_percentage,
          metric.error_rate,
          Math.round(metric.avg_latency_ms),
          isoTimestamp(metric.recorded_at, "recorded_at"),
          source,
        ],
      );
    },

    async summary(agentId, since) {
      const [row] = await sql.query<{
        samples: number;
        uptime: number | null;
        errors: number | null;
        latency: number | null;
      }>(
        `SELECT count(*)::integer AS samples, avg(uptime_percentage) AS uptime, avg(error_rate) AS errors,
                coalesce(avg(avg_latency_ms) FILTER (WHERE source = 'probe'), 0)::double precision AS latency
         FROM health_metrics WHERE agent_id = $1 AND recorded_at >= $2`,
        [agentId, isoTimestamp(since, "since")],
      );
      if (!row || row.samples === 0) return undefined;
      return {
        samples: row.samples,
        uptime_percentage: Number(row.uptime),
        error_rate: Number(row.errors),
        avg_latency_ms: Number(row.latency),
      };
    },
  };
}
