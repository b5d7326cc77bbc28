import type { AgentRepository } from "../../ports/agent-repository.js";
import type { GovernanceTx } from "../../ports/governance-store.js";
import type { AgentTrust } from "./governance.types.js";
import { computeTrust, TRUST, type TrustScore } from "./trust.js";

const DAY_MS = 24 * 3600_000;

export interface TrustRefresh {
  before: AgentTrust;
  after: AgentTrust;
  score: TrustScore;
  tierChanged: boolean;
}

/**
 * Recomputes an agent's trust inside a governance transaction from its stored performance sums, the
 * health metrics of the last {@link TRUST.reliabilityWindowDays} days and the latest probe score
 * (`probeScore` when a probe just ran). Writes it when it changed. Undefined when governance does
 * not know the agent yet (its registration has not been projected).
 */
export async function refreshTrust(
  tx: GovernanceTx,
  agentId: string,
  at: Date,
  probeScore?: number,
): Promise<TrustRefresh | undefined> {
  const before = await tx.agents.get(agentId);
  if (!before) return undefined;
  const since = new Date(at.getTime() - TRUST.reliabilityWindowDays * DAY_MS).toISOString();
  const health = await tx.health.summary(agentId, since);
  const lastProbeScore = probeScore ?? before.last_probe_score;
  const score = computeTrust({ performance: before, health, lastProbeScore });
  const unchanged =
    score.trust_score === before.trust_score &&
    score.audit_level === before.audit_level &&
    lastProbeScore === before.last_probe_score;
  const after = unchanged
    ? before
    : await tx.agents.setTrust(
        agentId,
        {
          trust_score: score.trust_score,
          audit_level: score.audit_level,
          ...(probeScore !== undefined ? { last_probe_score: probeScore } : {}),
        },
        at.toISOString(),
      );
  return { before, after, score, tierChanged: before.audit_level !== after.audit_level };
}

/**
 * Copies governance's trust onto the agent's DynamoDB profile when `profileTrust` (what the profile
 * holds) differs, so the award policy reads it with the profile. Idempotent; the profile write does
 * not bump its version, so the stream change it causes is ignored by the projector.
 */
export async function syncProfileTrust(
  agents: Pick<AgentRepository, "setTrust">,
  trust: Pick<AgentTrust, "agent_id" | "trust_score" | "audit_level">,
  profileTrust: { trust_score: number | null; audit_level: string | null },
): Promise<boolean> {
  if (profileTrust.trust_score === trust.trust_score && profileTrust.audit_level === trust.audit_level) {
    return false;
  }
  await agents.setTrust(trust.agent_id, { trust_score: trust.trust_score, audit_level: trust.audit_level });
  return true;
}
