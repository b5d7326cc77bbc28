import type { GovernanceStore } from "../../ports/governance-store.js";
import type { GovernanceLogger } from "./projector.js";

/**
 * The escrow timeout sweeper on its own, without the REST input schemas of the escrow service, so
 * that the escrow-sweeper function bundles no schema library.
 */

export interface RefundSummary {
  examined: number;
  refunded: number;
  /** Settled by an outcome between listing and locking. */
  skipped: number;
  more: boolean;
}

export const DEFAULT_ESCROW_TIMEOUT_MS = 14 * 24 * 3600_000;

export interface EscrowTimeoutOptions {
  store: GovernanceStore;
  /** How long an escrow may stay pending before the sweeper refunds it (default 14 days). */
  timeoutMs?: number;
  now?: () => Date;
  logger?: GovernanceLogger;
}

export function createEscrowTimeoutSweeper({
  store,
  timeoutMs = DEFAULT_ESCROW_TIMEOUT_MS,
  now = () => new Date(),
  logger,
}: EscrowTimeoutOptions) {
  return {
    /** Refunds escrows pending for longer than the timeout (`resolved_by` timeout), oldest first. */
    async refundExpired({ limit = 100 }: { limit?: number } = {}): Promise<RefundSummary> {
      const at = now();
      const cutoff = new Date(at.getTime() - timeoutMs).toISOString();
      const due = await store.listExpiredEscrows(cutoff, limit);
      const summary: RefundSummary = {
        examined: due.length,
        refunded: 0,
        skipped: 0,
        more: due.length === limit,
      };
      for (const candidate of due) {
        const refunded = await store.transaction(async (tx) => {
          const current = await tx.escrows.getForUpdate(candidate.id);
          if (current?.status !== "pending") return false;
          const moved = await tx.escrows.transition(candidate.id, "refunded", "timeout", at.toISOString());
          await tx.audit.append({
            action: "escrow_refunded",
            agent_id: current.agent_id,
            resource: `escrow:${candidate.id}`,
            actor: "system:escrow-sweeper",
            success: true,
            cost: moved.amount,
            details: { task_id: current.task_id, pending_since: current.created_at, timeout_ms: timeoutMs },
            occurred_at: at.toISOString(),
          });
          return true;
        });
        if (refunded) summary.refunded += 1;
        else summary.skipped += 1;
      }
      if (summary.refunded > 0) logger?.info("Expired escrows refunded", { ...summary });
      return summary;
    },
  };
}
