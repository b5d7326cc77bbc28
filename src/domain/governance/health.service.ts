import { forEachConcurrent } from "../../lib/concurrency.js";
import type { AgentRepository } from "../../ports/agent-repository.js";
import type { EndpointProber } from "../../ports/endpoint-prober.js";
import type { GovernanceStore } from "../../ports/governance-store.js";
import type { AgentTrust } from "./governance.types.js";
import { healthMetricFrom, probeScore } from "./probe-score.js";
import type { GovernanceLogger } from "./projector.js";
import { refreshTrust, syncProfileTrust } from "./trust-refresh.js";

export interface HealthServiceOptions {
  store: GovernanceStore;
  prober: EndpointProber;
  /** The profile is read and written back when its trust differs from governance's. */
  agents: Pick<AgentRepository, "setTrust" | "getProfile">;
  now?: () => Date;
  logger?: GovernanceLogger;
  /** Probes in flight at once (default 8). */
  concurrency?: number;
}

export interface ProbeRunSummary {
  probed: number;
  up: number;
  down: number;
  /** Probed, but recording the result failed (the next run tries again). */
  failed: number;
  /** Stopped early (out of time); the rest are probed next run. */
  more: boolean;
}

const ACTOR = "system:prober";

/**
 * The scheduled health prober: probes every active, not kill-switched agent's endpoint, records a
 * health metric, and recomputes trust with the new probe score. A result only reaches the audit log
 * when it changes something someone would act on (the endpoint went down or came back, the trust
 * tier moved) — one row per probe would drown the log.
 */
export function createHealthService({
  store,
  prober,
  agents,
  now = () => new Date(),
  logger,
  concurrency = 8,
}: HealthServiceOptions) {
  async function probeOne(target: AgentTrust): Promise<boolean> {
    const result = await prober.probe(target);
    const at = now();
    const score = probeScore(result);
    const trust = await store.transaction(async (tx) => {
      await tx.health.record(healthMetricFrom(target.agent_id, result, at));
      const refreshed = await refreshTrust(tx, target.agent_id, at, score);
      // The first probe is audited only when it fails; after that, every change either way.
      const wasUp = target.last_probe_score === null ? true : target.last_probe_score > 0;
      if (wasUp !== result.ok) {
        await tx.audit.append({
          action: result.ok ? "endpoint_up" : "endpoint_down",
          agent_id: target.agent_id,
          resource: `agent:${target.agent_id}`,
          actor: ACTOR,
          success: result.ok,
          cost: null,
          details: {
            endpoint_kind: target.endpoint_kind,
            latency_ms: result.latency_ms,
            status_code: result.status_code ?? null,
            error: result.error ?? null,
          },
          occurred_at: at.toISOString(),
        });
      }
      if (refreshed?.tierChanged) {
        await tx.audit.append({
          action: "trust_tier_changed",
          agent_id: target.agent_id,
          resource: `agent:${target.agent_id}`,
          actor: ACTOR,
          success: true,
          cost: null,
          details: {
            from: refreshed.before.audit_level,
            to: refreshed.after.audit_level,
            trust_score: refreshed.after.trust_score,
            pillars: refreshed.score.pillars,
          },
          occurred_at: at.toISOString(),
        });
      }
      return refreshed;
    });
    // Compared with the profile rather than with this run's change, so a write-back that failed
    // before (Postgres committed, DynamoDB did not) is repaired by the next run.
    if (trust) {
      const profile = await agents.getProfile(target.agent_id);
      if (profile) {
        await syncProfileTrust(agents, trust.after, {
          trust_score: profile.trust_score ?? null,
          audit_level: profile.audit_level ?? null,
        });
      }
    }
    if (!result.ok) {
      logger?.warn("Agent endpoint down", {
        agent_id: target.agent_id,
        endpoint_kind: target.endpoint_kind,
        error: result.error,
        status_code: result.status_code,
      });
    }
    return result.ok;
  }

  return {
    /** Probes every eligible agent, page by page, `concurrency` at a time. */
    async probeAll({ hasTime = () => true }: { hasTime?: () => boolean } = {}): Promise<ProbeRunSummary> {
      const summary: ProbeRunSummary = { probed: 0, up: 0, down: 0, failed: 0, more: false };
      let cursor: string | undefined;
      do {
        if (!hasTime()) {
          summary.more = true;
          break;
        }
        const page = await store.listProbeTargets({ limit: 50, ...(cursor ? { cursor } : {}) });
        cursor = page.cursor;
        await forEachConcurrent(page.items, concurrency, async (target) => {
          try {
            const up = await probeOne(target);
            summary.probed += 1;
            if (up) summary.up += 1;
            else summary.down += 1;
          } catch (error) {
            summary.failed += 1;
            logger?.error("Recording a probe failed", {
              agent_id: target.agent_id,
              error: error instanceof Error ? error.message : String(error),
            });
          }
        });
      } while (cursor);
      return summary;
    },
  };
}

export type HealthService = ReturnType<typeof createHealthService>;
