import * as z from "zod";
import type { Page, PageRequest } from "../../ports/pagination.js";
import {
  agentIdSchema,
  auditNoteSchema,
  issueUrlSchema,
  pageRequestSchema,
  principalActorSchema,
  takenFromCredentials,
} from "../common.schema.js";
import { NotFoundError } from "../errors.js";
import { parseOrThrow } from "../validation.js";
import { assertEscrowTransition } from "./escrow.js";
import { createEscrowTimeoutSweeper, type EscrowTimeoutOptions } from "./escrow-timeout.js";
import { ESCROW_STATUSES, type Escrow } from "./governance.types.js";

const escrowIdSchema = z.uuid({ error: "must be an escrow id (UUID)" });

/** A judge's ruling on an escrow. The judge is the authenticated caller, so the body may not name one. */
export const escrowResolutionSchema = z.strictObject({
  resolution: z.enum(["release", "refund"], { error: "must be 'release' or 'refund'" }),
  note: auditNoteSchema.optional(),
  judge: takenFromCredentials("judge"),
  actor: takenFromCredentials("judge"),
});

/** Filters of `GET /escrows`: each checked before anything reaches Postgres. */
const escrowFilterSchema = z.strictObject({
  task_id: issueUrlSchema.optional(),
  agent_id: agentIdSchema.optional(),
  status: z.enum(ESCROW_STATUSES, { error: `must be one of ${ESCROW_STATUSES.join(", ")}` }).optional(),
});

/** Escrows per page when the caller does not say (at most MAX_PAGE_SIZE, 100). */
export const DEFAULT_ESCROW_PAGE_SIZE = 50;

/** The same options as the timeout sweeper's: the service's resolutions use its store, clock and logger. */
export type EscrowServiceOptions = EscrowTimeoutOptions;

export type { RefundSummary } from "./escrow-timeout.js";
export { DEFAULT_ESCROW_TIMEOUT_MS } from "./escrow-timeout.js";

/** Escrow reads, a judge's resolution of disputes, and the timeout sweeper. */
export function createEscrowService(options: EscrowServiceOptions) {
  const { store, now = () => new Date(), logger } = options;
  return {
    async get(id: unknown): Promise<Escrow> {
      const validId = parseOrThrow(escrowIdSchema, id, "escrow id");
      const escrow = await store.transaction((tx) => tx.escrows.get(validId));
      if (!escrow) throw new NotFoundError("escrow", validId);
      return escrow;
    },

    /** Escrows in creation order (created_at, id), a page at a time; pass `cursor` back for the next. */
    async list(filter: unknown, page: PageRequest = {}): Promise<Page<Escrow>> {
      const valid = parseOrThrow(escrowFilterSchema, filter ?? {}, "escrow filter");
      const validPage = parseOrThrow(pageRequestSchema, page, "page");
      return store.listEscrows(
        {
          ...(valid.task_id ? { taskId: valid.task_id } : {}),
          ...(valid.agent_id ? { agentId: valid.agent_id } : {}),
          ...(valid.status ? { status: valid.status } : {}),
        },
        {
          limit: validPage.limit ?? DEFAULT_ESCROW_PAGE_SIZE,
          ...(validPage.cursor ? { cursor: validPage.cursor } : {}),
        },
      );
    },

    /**
     * A judge releases (pays the agent) or refunds an escrow; ConflictError when it is already final.
     * `actor` is the authenticated caller (`operator:<name>`), recorded as the audit row's actor.
     */
    async resolve(id: unknown, body: unknown, actor: string): Promise<Escrow> {
      const validId = parseOrThrow(escrowIdSchema, id, "escrow id");
      const input = parseOrThrow(escrowResolutionSchema, body, "escrow resolution");
      const judge = parseOrThrow(principalActorSchema, actor, "actor");
      const to = input.resolution === "release" ? "released" : "refunded";
      const at = now().toISOString();
      const escrow = await store.transaction(async (tx) => {
        const current = await tx.escrows.getForUpdate(validId);
        if (!current) throw new NotFoundError("escrow", validId);
        assertEscrowTransition(current.status, to, "judge");
        const moved = await tx.escrows.transition(validId, to, "judge", at);
        await tx.audit.append({
          action: "escrow_resolved",
          agent_id: current.agent_id,
          resource: `escrow:${validId}`,
          actor: judge,
          success: true,
          cost: moved.amount,
          details: { task_id: current.task_id, from: current.status, to, note: input.note ?? null },
          occurred_at: at,
        });
        return moved;
      });
      logger?.info("Escrow resolved", { escrow_id: validId, to, judge });
      return escrow;
    },

    /** Refunds escrows pending for longer than the timeout: see {@link createEscrowTimeoutSweeper}. */
    refundExpired: createEscrowTimeoutSweeper(options).refundExpired,
  };
}

export type EscrowService = ReturnType<typeof createEscrowService>;
