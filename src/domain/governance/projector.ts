import type { AgentRepository } from "../../ports/agent-repository.js";
import type { GovernanceStore, GovernanceTx } from "../../ports/governance-store.js";
import type { AwardLogger } from "../bidding/award.service.js";
import { NotFoundError } from "../errors.js";
import { ESCROW_TRANSITIONS } from "./escrow.js";
import type { AuditEntryInput, EscrowStatus } from "./governance.types.js";
import { approvalIdFor, escrowIdFor } from "./ids.js";
import { normalizeDecimal } from "./money.js";
import type { GovernanceEvent } from "./projection.js";
import { refreshTrust, syncProfileTrust } from "./trust-refresh.js";

/** Actor of everything the marketplace itself did (awards, outcomes, escrow moves they cause). */
export const SYSTEM_ACTOR = "system:marketplace";

/** Actor of what deliveries to agents found out (a circuit breaker opening or closing). */
export const DELIVERY_ACTOR = "system:delivery";

/** Log lines governance writes (a Powertools Logger fits); the same shape as the award's. */
export type GovernanceLogger = AwardLogger;

export interface GovernanceProjectorOptions {
  store: GovernanceStore;
  /**
   * For writing trust back onto profiles. With `getProfile`, a change that does not carry the
   * profile (a circuit breaker's) writes only when the profile's trust differs.
   */
  agents: Pick<AgentRepository, "setTrust"> & Partial<Pick<AgentRepository, "getProfile">>;
  now?: () => Date;
  logger?: GovernanceLogger;
}

export type ProjectionResult = "APPLIED" | "DUPLICATE";

/** A stream record the projector gave up on for a permanent reason (it went to the failure store). */
export interface SkippedRecord {
  /** The event that failed; null when the image could not be read at all. */
  event_key: string | null;
  /** Its kind (`AWARD`...), or null. */
  event_kind: string | null;
  sequence_number: string | null;
  /** FailureClass.reason: `invalid-data`, `validation`, `conflict`, `malformed`. */
  reason: string;
  error_name: string;
  sqlstate: string | null;
  message: string;
  at: string;
}

/** The applyOnce key of a skip's audit row: one row per failed event (or unreadable record). */
export function skipKeyOf(record: Pick<SkippedRecord, "event_key" | "sequence_number">): string {
  return `skipped:${record.event_key ?? `record:${record.sequence_number ?? "unknown"}`}`;
}

export interface GovernanceProjector {
  /**
   * Applies one event exactly once (keyed by `event.key`): audit rows, escrow, approval request and
   * trust, in one Postgres transaction. Throws when Postgres is unreachable, so the stream retries.
   */
  apply(event: GovernanceEvent): Promise<ProjectionResult>;
  /**
   * Notes in the audit log, exactly once per failed event ({@link skipKeyOf}), that a record was
   * skipped: action `projection_skipped`, success false.
   */
  skip(record: SkippedRecord): Promise<ProjectionResult>;
}

function audit(
  partial: Pick<AuditEntryInput, "action" | "resource"> & Partial<AuditEntryInput>,
  at: string,
): AuditEntryInput {
  return {
    agent_id: null,
    actor: SYSTEM_ACTOR,
    success: true,
    cost: null,
    details: {},
    occurred_at: at,
    ...partial,
  };
}

/** Escrow move an outcome asks for: SUCCESS pays the agent, anything else needs a judge. */
function escrowTargetFor(status: "SUCCESS" | "FAILURE" | "HUMAN_INTERVENTION"): EscrowStatus {
  return status === "SUCCESS" ? "released" : "disputed";
}

/** Creates the projector that turns table changes into governance records. */
export function createGovernanceProjector({
  store,
  agents,
  now = () => new Date(),
  logger,
}: GovernanceProjectorOptions): GovernanceProjector {
  async function applyAgent(tx: GovernanceTx, event: Extract<GovernanceEvent, { kind: "AGENT" }>) {
    const { snapshot } = event;
    const agentId = snapshot.agent_id;
    await tx.agents.upsert(snapshot, event.at);
    const resource = `agent:${agentId}`;
    if (event.registered) {
      await tx.audit.append(
        audit(
          {
            action: "agent_registered",
            agent_id: agentId,
            resource,
            ...(event.actor ? { actor: event.actor } : {}),
            details: { endpoint_kind: snapshot.endpoint_kind, status: snapshot.status },
          },
          event.at,
        ),
      );
    } else if (event.changed.length > 0) {
      await tx.audit.append(
        audit(
          {
            action: "agent_updated",
            agent_id: agentId,
            resource,
            ...(event.actor ? { actor: event.actor } : {}),
            details: { changed: event.changed, ...(event.wallet ? { wallet: event.wallet } : {}) },
          },
          event.at,
        ),
      );
    }
    if (event.killSwitch) {
      await tx.audit.append(
        audit(
          {
            action: event.killSwitch.active ? "kill_switch_on" : "kill_switch_off",
            agent_id: agentId,
            resource,
            actor: event.killSwitch.actor,
            details: { reason: event.killSwitch.reason },
          },
          event.at,
        ),
      );
    }
    const trust = await refreshTrust(tx, agentId, now());
    if (trust?.tierChanged) {
      await tx.audit.append(
        audit(
          {
            action: "trust_tier_changed",
            agent_id: agentId,
            resource,
            details: {
              from: trust.before.audit_level,
              to: trust.after.audit_level,
              trust_score: trust.after.trust_score,
              pillars: trust.score.pillars,
            },
          },
          now().toISOString(),
        ),
      );
    }
  }

  async function applyAward(tx: GovernanceTx, event: Extract<GovernanceEvent, { kind: "AWARD" }>) {
    const resource = event.task_id;
    const amount = normalizeDecimal(event.bid_amount);
    if (event.status === "PENDING_APPROVAL") {
      const { request, created } = await tx.approvals.create({
        id: approvalIdFor(event.task_id, event.agent_id, event.awarded_at),
        task_id: event.task_id,
        agent_id: event.agent_id,
        bid_amount: amount,
        reason: event.approval_reason ?? "APPROVAL_REQUIRED",
        requested_at: event.awarded_at,
      });
      if (created) {
        await tx.audit.append(
          audit(
            {
              action: "approval_requested",
              agent_id: event.agent_id,
              resource,
              cost: amount,
              details: { approval_id: request.id, reason: request.reason },
            },
            event.at,
          ),
        );
      }
      return;
    }
    await tx.audit.append(
      audit({ action: "award_made", agent_id: event.agent_id, resource, cost: amount }, event.at),
    );
    const { escrow, created } = await tx.escrows.create({
      id: escrowIdFor(event.task_id, event.agent_id),
      task_id: event.task_id,
      agent_id: event.agent_id,
      worker_wallet: event.worker_wallet,
      amount,
      task_description: null,
      created_at: event.at,
    });
    if (created) {
      await tx.audit.append(
        audit(
          {
            action: "escrow_created",
            agent_id: event.agent_id,
            resource: `escrow:${escrow.id}`,
            cost: amount,
            details: { task_id: event.task_id, status: escrow.status },
          },
          event.at,
        ),
      );
    }
  }

  async function applyOutcome(tx: GovernanceTx, event: Extract<GovernanceEvent, { kind: "LEDGER_OUTCOME" }>) {
    const cost = normalizeDecimal(event.actual_cost);
    await tx.audit.append(
      audit(
        {
          action: "ledger_outcome",
          agent_id: event.agent_id,
          resource: event.task_id,
          cost,
          success: event.status === "SUCCESS",
          details: {
            status: event.status,
            quality_score: event.quality_score,
            completion_timestamp: event.completion_timestamp,
            supersedes: event.supersedes,
          },
        },
        event.at,
      ),
    );
    const escrowId = escrowIdFor(event.task_id, event.agent_id);
    const escrow = await tx.escrows.getForUpdate(escrowId);
    const resource = `escrow:${escrowId}`;
    const target = escrowTargetFor(event.status);
    if (!escrow) {
      // An award made before governance existed, or one whose projection failed for good.
      await tx.audit.append(
        audit(
          {
            action: "escrow_missing",
            agent_id: event.agent_id,
            resource,
            success: false,
            details: { task_id: event.task_id, wanted: target },
          },
          event.at,
        ),
      );
      return;
    }
    if (escrow.status === target) return;
    if (!ESCROW_TRANSITIONS[escrow.status][target]?.includes("api")) {
      // E.g. a reopened issue (FAILURE) after the escrow was released: money already moved, so a
      // judge or ops must act; the audit row says what was asked and why it was not done.
      await tx.audit.append(
        audit(
          {
            action: "escrow_unchanged",
            agent_id: event.agent_id,
            resource,
            success: false,
            details: { task_id: event.task_id, from: escrow.status, wanted: target, outcome: event.status },
          },
          event.at,
        ),
      );
      return;
    }
    const moved = await tx.escrows.transition(escrowId, target, "api", event.at);
    await tx.audit.append(
      audit(
        {
          action: target === "released" ? "escrow_released" : "escrow_disputed",
          agent_id: event.agent_id,
          resource,
          cost: moved.amount,
          details: { task_id: event.task_id, outcome: event.status, resolved_by: moved.resolved_by },
        },
        event.at,
      ),
    );
  }

  /**
   * A delivery circuit breaker changed state. Opening (and a failed trial re-opening it) is a health
   * sample "down", a close after a delivery one "up", both with source `delivery`; then trust is
   * recomputed, as after a probe (the probe score itself is the prober's). Opening and closing are
   * audited (a failed trial changes nothing anyone acts on), and so is a tier move.
   */
  async function applyCircuit(
    tx: GovernanceTx,
    event: Extract<GovernanceEvent, { kind: "ENDPOINT_CIRCUIT" }>,
  ) {
    const agentId = event.agent_id;
    const resource = `agent:${agentId}`;
    const down = event.change !== "closed";
    if (down || event.delivered) {
      await tx.health.record({
        agent_id: agentId,
        uptime_percentage: down ? 0 : 100,
        error_rate: down ? 1 : 0,
        avg_latency_ms: 0,
        recorded_at: event.at,
        source: "delivery",
      });
    }
    if (event.change !== "reopened") {
      await tx.audit.append(
        audit(
          {
            action: event.change === "opened" ? "endpoint_circuit_opened" : "endpoint_circuit_closed",
            agent_id: agentId,
            resource,
            actor: DELIVERY_ACTOR,
            success: !down,
            details: {
              endpoint: event.endpoint,
              consecutive_failures: event.consecutive_failures,
              ...(down
                ? { open_until: event.open_until, last_error: event.last_error }
                : {
                    reason: event.delivered ? "delivered" : "endpoint_changed",
                    previous_endpoint: event.previous_endpoint,
                  }),
            },
          },
          event.at,
        ),
      );
    }
    const at = now();
    const trust = await refreshTrust(tx, agentId, at);
    if (trust?.tierChanged) {
      await tx.audit.append(
        audit(
          {
            action: "trust_tier_changed",
            agent_id: agentId,
            resource,
            actor: DELIVERY_ACTOR,
            details: {
              from: trust.before.audit_level,
              to: trust.after.audit_level,
              trust_score: trust.after.trust_score,
              pillars: trust.score.pillars,
            },
          },
          at.toISOString(),
        ),
      );
    }
  }

  /** Writes governance's trust onto the profile when it differs (the change did not carry the profile). */
  async function syncCircuitTrust(agentId: string) {
    const trust = await store.transaction((tx) => tx.agents.get(agentId));
    if (!trust) return;
    try {
      const profile = agents.getProfile ? await agents.getProfile(agentId) : undefined;
      if (agents.getProfile && !profile) return;
      await syncProfileTrust(agents, trust, {
        trust_score: profile?.trust_score ?? null,
        audit_level: profile?.audit_level ?? null,
      });
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }

  async function applyEvent(tx: GovernanceTx, event: GovernanceEvent): Promise<void> {
    switch (event.kind) {
      case "ENDPOINT_CIRCUIT":
        return applyCircuit(tx, event);
      case "AGENT":
        return applyAgent(tx, event);
      case "AWARD":
        return applyAward(tx, event);
      case "LEDGER_OUTCOME":
        return applyOutcome(tx, event);
      case "BID_ACCEPTED":
        await tx.audit.append(
          audit(
            {
              action: "bid_accepted",
              agent_id: event.agent_id,
              resource: event.task_id,
              cost: normalizeDecimal(event.bid_amount),
              details: { estimated_completion_sec: event.estimated_completion_sec },
            },
            event.at,
          ),
        );
        return;
      case "BID_DECLINED":
        await tx.audit.append(
          audit({ action: "bid_declined", agent_id: event.agent_id, resource: event.task_id }, event.at),
        );
        return;
      case "BID_REJECTED":
        // The agent id is only what the refused message claimed, so it stays out of the agent column.
        await tx.audit.append(
          audit(
            {
              action: "bid_rejected",
              resource: event.task_id,
              success: false,
              details: {
                claimed_agent_id: event.agent_id,
                message_type: event.message_type,
                reason: event.reason,
              },
            },
            event.at,
          ),
        );
        return;
      case "COST_REPORTED":
        await tx.audit.append(
          audit(
            {
              action: "cost_reported",
              agent_id: event.agent_id,
              resource: event.task_id,
              cost: normalizeDecimal(event.actual_cost),
            },
            event.at,
          ),
        );
        return;
    }
  }

  return {
    async skip(record) {
      const applied = await store.applyOnce(skipKeyOf(record), async (tx) => {
        await tx.audit.append(
          audit(
            {
              action: "projection_skipped",
              resource: record.event_key ?? `stream-record:${record.sequence_number ?? "unknown"}`,
              success: false,
              details: {
                event_key: record.event_key,
                kind: record.event_kind,
                reason: record.reason,
                error: record.error_name,
                sqlstate: record.sqlstate,
                message: record.message,
                sequence_number: record.sequence_number,
              },
            },
            record.at,
          ),
        );
      });
      logger?.warn(applied ? "Governance record skipped" : "Governance record skip already noted", {
        key: record.event_key,
        kind: record.event_kind,
        sequence_number: record.sequence_number,
        sqlstate: record.sqlstate,
      });
      return applied ? "APPLIED" : "DUPLICATE";
    },

    async apply(event) {
      const applied = await store.applyOnce(event.key, (tx) => applyEvent(tx, event));
      if (event.kind === "AGENT") {
        // Also after a duplicate: the first delivery may have committed in Postgres and then failed
        // to write the profile.
        const trust = await store.transaction((tx) => tx.agents.get(event.snapshot.agent_id));
        if (trust) {
          try {
            await syncProfileTrust(agents, trust, event.profileTrust);
          } catch (error) {
            if (!(error instanceof NotFoundError)) throw error;
          }
        }
      }
      // Also after a duplicate, for the same reason.
      if (event.kind === "ENDPOINT_CIRCUIT") await syncCircuitTrust(event.agent_id);
      logger?.info(applied ? "Governance event applied" : "Governance event already applied", {
        kind: event.kind,
        key: event.key,
      });
      return applied ? "APPLIED" : "DUPLICATE";
    },
  };
}
