import * as z from "zod";
import type { GovernanceStore } from "../../ports/governance-store.js";
import type { Page, PageRequest } from "../../ports/pagination.js";
import type { TaskRepository } from "../../ports/task-repository.js";
import type { AwardOutcome, AwardService } from "../bidding/award.service.js";
import {
  auditNoteSchema,
  pageRequestSchema,
  principalActorSchema,
  takenFromCredentials,
} from "../common.schema.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { parseOrThrow } from "../validation.js";
import { APPROVAL_STATUSES, type ApprovalRequest, type ApprovalStatus } from "./governance.types.js";
import type { GovernanceLogger } from "./projector.js";

/**
 * Why, if the reviewer says (bounded, no control characters: it goes to the audit log). The reviewer
 * is the authenticated caller, so the body may not name one.
 */
export const approvalDecisionSchema = z.strictObject({
  note: auditNoteSchema.optional(),
  reviewer: takenFromCredentials("reviewer"),
  actor: takenFromCredentials("reviewer"),
});

const approvalIdSchema = z.string().regex(/^apr_[0-9a-f]{24}$/, "must be an approval id (apr_ + 24 hex)");
const statusSchema = z.enum(APPROVAL_STATUSES, { error: `must be one of ${APPROVAL_STATUSES.join(", ")}` });

export interface ApprovalServiceOptions {
  store: GovernanceStore;
  tasks: Pick<TaskRepository, "approvePendingAward" | "rejectPendingAward">;
  awards: Pick<AwardService, "evaluate">;
  now?: () => Date;
  logger?: GovernanceLogger;
}

export interface RejectionResult {
  request: ApprovalRequest;
  /** What re-awarding the task did: the next-best bid won (maybe pending approval again), or no bid was left. */
  next: AwardOutcome["kind"];
  next_agent_id: string | null;
}

/**
 * Human approval of held awards. The DynamoDB award is the source of truth and moves first, then the
 * Postgres request is decided; both steps are idempotent, so a retry after a failure in between
 * finishes the job rather than failing.
 */
export function createApprovalService({
  store,
  tasks,
  awards,
  now = () => new Date(),
  logger,
}: ApprovalServiceOptions) {
  async function load(id: unknown): Promise<ApprovalRequest> {
    const validId = parseOrThrow(approvalIdSchema, id, "approval id");
    const request = await store.transaction((tx) => tx.approvals.get(validId));
    if (!request) throw new NotFoundError("approval", validId);
    return request;
  }

  async function decide(
    request: ApprovalRequest,
    decision: "approved" | "rejected",
    input: z.output<typeof approvalDecisionSchema>,
    reviewer: string,
  ): Promise<ApprovalRequest> {
    const at = now().toISOString();
    try {
      return await store.transaction(async (tx) => {
        const decided = await tx.approvals.decide(request.id, decision, reviewer, at, input.note ?? null);
        await tx.audit.append({
          action: decision === "approved" ? "approval_approved" : "approval_rejected",
          agent_id: request.agent_id,
          resource: `approval:${request.id}`,
          actor: reviewer,
          success: true,
          cost: request.bid_amount,
          details: { task_id: request.task_id, note: input.note ?? null },
          occurred_at: at,
        });
        return decided;
      });
    } catch (error) {
      // A parallel call decided it the same way first: same result.
      if (error instanceof ConflictError) {
        const current = await load(request.id);
        if (current.status === decision) return current;
      }
      throw error;
    }
  }

  function parseDecision(body: unknown, actor: unknown) {
    return {
      input: parseOrThrow(approvalDecisionSchema, body, "approval decision"),
      reviewer: parseOrThrow(principalActorSchema, actor, "actor"),
    };
  }

  function refuseIfDecidedOtherwise(request: ApprovalRequest, wanted: ApprovalStatus): void {
    if (request.status !== "pending" && request.status !== wanted) {
      throw new ConflictError(`Approval ${request.id} was already ${request.status}`, {
        reason: "ALREADY_DECIDED",
        status: request.status,
      });
    }
  }

  return {
    async list(status: unknown, page: PageRequest = {}): Promise<Page<ApprovalRequest>> {
      const valid = status === undefined ? undefined : parseOrThrow(statusSchema, status, "status");
      return store.listApprovals(valid, parseOrThrow(pageRequestSchema, page, "page"));
    },

    get: load,

    /**
     * Completes the held award: it becomes AWARDED and the notices go out. `actor` is the
     * authenticated caller (`operator:<name>`): the stored reviewer and the audit row's actor.
     */
    async approve(id: unknown, body: unknown, actor: string): Promise<ApprovalRequest> {
      const { input, reviewer } = parseDecision(body, actor);
      const request = await load(id);
      refuseIfDecidedOtherwise(request, "approved");
      await tasks.approvePendingAward(request.task_id, request.agent_id);
      const decided =
        request.status === "approved" ? request : await decide(request, "approved", input, reviewer);
      // The award is AWARDED now: the table stream sends its notices (see src/workers/task-stream.ts).
      logger?.info("Award approved", {
        approval_id: request.id,
        task_id: request.task_id,
        agent_id: request.agent_id,
        reviewer,
      });
      return decided;
    },

    /**
     * Refuses the held award; the task goes to the next-best bid (which may need approval in turn).
     * `actor` is the authenticated caller, as for {@link approve}.
     */
    async reject(id: unknown, body: unknown, actor: string): Promise<RejectionResult> {
      const { input, reviewer } = parseDecision(body, actor);
      const request = await load(id);
      refuseIfDecidedOtherwise(request, "rejected");
      await tasks.rejectPendingAward(request.task_id, request.agent_id);
      const decided =
        request.status === "rejected" ? request : await decide(request, "rejected", input, reviewer);
      // If this fails, the task is CLOSING with its bid window, so the next sweep re-awards it.
      const outcome = await awards.evaluate(request.task_id);
      const nextAgent = outcome.kind === "AWARDED" ? outcome.award.agent_id : null;
      logger?.info("Award rejected", {
        approval_id: request.id,
        task_id: request.task_id,
        agent_id: request.agent_id,
        reviewer,
        next: outcome.kind,
        next_agent_id: nextAgent,
      });
      return { request: decided, next: outcome.kind, next_agent_id: nextAgent };
    },
  };
}

export type ApprovalService = ReturnType<typeof createApprovalService>;
