import { mapConcurrent } from "../../lib/concurrency.js";
import { assertBeforeDeadline } from "../../lib/deadline.js";
import type { AgentRepository } from "../../ports/agent-repository.js";
import type { AwardTrigger } from "../../ports/award-trigger.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import type { TaskRepository } from "../../ports/task-repository.js";
import { type AgentProfile, isListed } from "../agents/agent.types.js";
import { ConflictError } from "../errors.js";
import type { TaskStatus } from "../tasks/task.schema.js";
import type { Award, Bid, Task, TaskRecord } from "../tasks/task.types.js";
import { allAnswered, DEADLINE_GRACE_MS, deadlinePassed } from "./award-due.js";
import { withinBudget } from "./notices.js";
import { describeError } from "./retry.js";
import { type RankedCandidate, rankBids } from "./scoring.js";

export { allAnswered, DEADLINE_GRACE_MS };

/** An ACCEPTED bid with everything the scoring rule reads. */
export type ValidBid = Bid & { bid_amount: number; estimated_completion_sec: number; answered_at: string };

/** The best-ranked bid, with its agent's profile, as the approval policy sees it. */
export interface AwardCandidate extends RankedCandidate<ValidBid> {
  profile: AgentProfile;
}

export type AwardDecision = Award["status"];

/**
 * Whether an award takes effect at once (`AWARDED`) or waits for a human (`PENDING_APPROVAL`).
 *
 * This is the governance seam: the approvals feature (APPROVAL_THRESHOLD, Bronze-tier agents) supplies
 * its own policy here. A PENDING_APPROVAL award is written like any other (the one award of the task,
 * bidding closed) but no notice goes out, not even rejections, since a rejected approval moves the award
 * to the next-best bid. Once the award is made final (AWARDED), the table stream sends the notices.
 *
 * `decide` must be free of side effects: parallel award runs may all call it, and only one award is
 * written. The hold is recorded by the award item itself (`status` PENDING_APPROVAL), which reaches
 * governance through the table's stream.
 */
export interface ApprovalPolicy {
  decide(candidate: AwardCandidate, task: Task): ApprovalVerdict | Promise<ApprovalVerdict>;
}

/** A decision, optionally with the reason a human must look (stored on the award as `approval_reason`). */
export type ApprovalVerdict = AwardDecision | { status: AwardDecision; reason?: string };

/** Default policy: every award is final at once. */
export const AWARD_WITHOUT_APPROVAL: ApprovalPolicy = { decide: () => "AWARDED" };

/** Log lines the service writes (a Powertools Logger fits). Never given a secret. */
export interface AwardLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

export interface AwardServiceOptions {
  tasks: TaskRepository;
  bidding: BiddingRepository;
  agents: AgentRepository;
  approval?: ApprovalPolicy;
  now?: () => Date;
  logger?: AwardLogger;
  /** Tasks in a sweep handled at once (default 8). */
  concurrency?: number;
}

/** What one award run did. */
export type AwardOutcome =
  | { kind: "NOT_FOUND"; task_id: string }
  /** Still OPEN: before the deadline and some invited agent has not answered. */
  | { kind: "NOT_DUE"; task_id: string }
  /** No valid bid: the task is now NO_BIDS. */
  | { kind: "NO_BIDS"; task_id: string }
  /** This run made the award (AWARDED or PENDING_APPROVAL). */
  | {
      kind: "AWARDED";
      task_id: string;
      award: Award;
      ranking: RankedCandidate<ValidBid>[];
    }
  /** Decided before (or by a parallel run): nothing done. */
  | { kind: "SETTLED"; task_id: string; status: TaskStatus };

/** What one sweep did. */
export interface SweepSummary {
  examined: number;
  awarded: number;
  pendingApproval: number;
  noBids: number;
  /** Already decided by another run (e.g. an early award by the bid worker). */
  settled: number;
  failed: number;
  /** Due tasks may remain (work bound reached); the next sweep continues. */
  more: boolean;
}

export interface SweepOptions {
  /** Upper bound on tasks handled by one call (default 200). */
  maxTasks?: number;
  /** Checked before each page; return `false` to stop early (e.g. the Lambda is nearly out of time). */
  hasTime?: () => boolean;
}

/**
 * Awards tasks. Implements {@link AwardTrigger} (in-process early award; deployed, the award worker
 * calls {@link evaluate} for each "award due" message) and `sweep` for the scheduled job (award at the
 * deadline). It sends nothing itself: the award item, and a task's move to NO_BIDS, reach the table
 * stream, whose consumer plans the notices onto the delivery queue.
 */
export interface AwardService extends AwardTrigger {
  /** {@link AwardTrigger.awardIfDue}, reporting what the run did (for logs and tests). */
  evaluate(taskId: string): Promise<AwardOutcome>;
  /** Runs {@link evaluate} for open tasks whose deadline is at or before `now`, earliest first. */
  sweep(now?: Date, options?: SweepOptions): Promise<SweepSummary>;
}

const PAGE_SIZE = 25;

function hasScorableFields(bid: Bid): bid is ValidBid {
  return (
    bid.status === "ACCEPTED" &&
    typeof bid.bid_amount === "number" &&
    typeof bid.estimated_completion_sec === "number" &&
    typeof bid.answered_at === "string"
  );
}

/**
 * Creates the award service over the task, bidding and agent stores.
 *
 * One run (`awardIfDue` / `evaluate`):
 * 1. Reads the task record consistently. Neither OPEN nor CLOSING: nothing to do (SETTLED).
 * 2. OPEN but before the deadline and with some invited agent yet to answer: does nothing.
 * 3. Valid bids are ACCEPTED ones within the budget (if any) from agents still active and not
 *    kill-switched (profiles read consistently). None: the task becomes NO_BIDS.
 * 4. Otherwise ranks them by the scoring rule (`scoring.ts`), asks the {@link ApprovalPolicy}, and
 *    writes the one award in a conditional transaction (which also removes the bid window). Losing
 *    that race (ConflictError) means another run won.
 * 5. Notices are not sent here: the stream sees the AWARDED award (or the NO_BIDS task) and the
 *    delivery worker sends them, with retries, recording DELIVERED/FAILED on each bidder's item.
 */
/** Rounds of one award run: the step from OPEN to CLOSING, then re-rankings while the winner keeps revising its bid. */
const MAX_AWARD_ROUNDS = 4;

export function createAwardService({
  tasks,
  bidding,
  agents,
  approval = AWARD_WITHOUT_APPROVAL,
  now = () => new Date(),
  logger,
  concurrency = 8,
}: AwardServiceOptions): AwardService {
  async function readRecord(taskId: string): Promise<TaskRecord | undefined> {
    return tasks.getTaskRecord(taskId, { consistent: true, rejections: 0 });
  }

  /** Another run decided the task (or it was decided before): nothing left to do here. */
  async function settle(taskId: string): Promise<AwardOutcome> {
    const record = await readRecord(taskId);
    if (!record) return { kind: "NOT_FOUND", task_id: taskId };
    return { kind: "SETTLED", task_id: taskId, status: record.task.status };
  }

  async function awardAt(taskId: string, at: Date, rounds = 1): Promise<AwardOutcome> {
    // A later round (after closing, or after the winner revised its bid) never starts past the
    // invocation's deadline: the task stays CLOSING or OPEN with its window, and is retried.
    if (rounds > 1) assertBeforeDeadline(`award of ${taskId}, round ${rounds}`);
    const record = await readRecord(taskId);
    if (!record) return { kind: "NOT_FOUND", task_id: taskId };
    const { task } = record;
    if (task.status !== "OPEN" && task.status !== "CLOSING") {
      return { kind: "SETTLED", task_id: taskId, status: task.status };
    }
    if (task.status === "OPEN") {
      if (!deadlinePassed(task, at) && !allAnswered(task)) return { kind: "NOT_DUE", task_id: taskId };
      // Stop taking bids first, then rank what is stored: no bid can land between ranking and award.
      // A run that crashes here leaves the task CLOSING; the next run (the bid window is still due)
      // carries on from the final set of bids.
      await bidding.beginClosing(taskId);
      return awardAt(taskId, at, rounds + 1);
    }

    // Agents a reviewer rejected for this task are out of the running for good.
    const excluded = new Set(task.approval_excluded_agents ?? []);
    const accepted = record.bids.filter(hasScorableFields).filter((bid) => !excluded.has(bid.agent_id));
    const profiles = await agents.getProfiles(accepted.map((bid) => bid.agent_id));
    // Profiles are read consistently here, so an agent kill-switched after it bid cannot win.
    const valid = accepted.filter((bid) => {
      const profile = profiles.get(bid.agent_id);
      return withinBudget(task, bid.bid_amount) && profile !== undefined && isListed(profile);
    });

    if (valid.length === 0) {
      if (!(await bidding.closeWithoutBids(taskId))) return settle(taskId);
      logger?.info("Task closed without valid bids", { task_id: taskId, bids: record.bids.length });
      // The rejection notices go out through the table stream (the task's move to NO_BIDS).
      return { kind: "NO_BIDS", task_id: taskId };
    }

    const ranking = rankBids(valid, profiles);
    const [best] = ranking;
    if (!best) throw new Error(`No candidate for ${taskId} despite ${valid.length} valid bids`);
    const winner = profiles.get(best.bid.agent_id) as AgentProfile;
    const verdict = await approval.decide({ ...best, profile: winner }, task);
    const { status, reason: approvalReason } =
      typeof verdict === "string" ? { status: verdict, reason: undefined } : verdict;

    let award: Award;
    try {
      award = await tasks.createAward({
        task_id: taskId,
        agent_id: best.bid.agent_id,
        bid_amount: best.bid.bid_amount,
        estimated_completion_sec: best.bid.estimated_completion_sec,
        status,
        ...(best.bid.sent_at ? { bid_sent_at: best.bid.sent_at } : {}),
        ...(status === "PENDING_APPROVAL" && approvalReason ? { approval_reason: approvalReason } : {}),
        ...(winner.wallet_address ? { worker_wallet: winner.wallet_address } : {}),
      });
    } catch (error) {
      // The winner revised its bid after this run ranked it: rank again with what is stored now.
      if (
        error instanceof ConflictError &&
        (error.details as { reason?: string } | undefined)?.reason === "BID_CHANGED"
      ) {
        if (rounds < MAX_AWARD_ROUNDS) return awardAt(taskId, at, rounds + 1);
      }
      if (error instanceof ConflictError) return settle(taskId);
      throw error;
    }
    logger?.info("Task awarded", {
      task_id: taskId,
      agent_id: award.agent_id,
      status: award.status,
      bid_amount: award.bid_amount,
      bids: ranking.length,
      ranking: ranking.slice(0, 10).map(({ rank, bid, score, components }) => ({
        rank,
        agent_id: bid.agent_id,
        bid_amount: bid.bid_amount,
        score,
        components,
      })),
    });
    // The notices go out through the table stream: the award item is the outbox (see task-stream.ts).
    return { kind: "AWARDED", task_id: taskId, award, ranking };
  }

  return {
    evaluate: (taskId) => awardAt(taskId, now()),

    async awardIfDue(taskId) {
      // Called after every first answer: one read of the task item decides whether anything is due,
      // so a task with N bidders costs N small reads here, not N reads of its whole bid set.
      const at = now();
      const state = await bidding.getBiddingState(taskId);
      if (!state) return;
      const { task } = state;
      if (task.status === "OPEN" && !deadlinePassed(task, at) && !allAnswered(task)) return;
      await awardAt(taskId, at);
    },

    async sweep(at = now(), { maxTasks = 200, hasTime = () => true } = {}) {
      const summary: SweepSummary = {
        examined: 0,
        awarded: 0,
        pendingApproval: 0,
        noBids: 0,
        settled: 0,
        failed: 0,
        more: false,
      };
      let cursor: string | undefined;
      do {
        if (!hasTime()) {
          summary.more = true;
          break;
        }
        const limit = Math.max(1, Math.min(PAGE_SIZE, maxTasks - summary.examined));
        const page = await tasks.openTasksDueBy(at.toISOString(), { limit, ...(cursor ? { cursor } : {}) });
        cursor = page.cursor;
        await mapConcurrent(page.items, concurrency, async ({ task_id }) => {
          summary.examined += 1;
          try {
            const outcome = await awardAt(task_id, at);
            if (outcome.kind === "AWARDED") {
              if (outcome.award.status === "AWARDED") summary.awarded += 1;
              else summary.pendingApproval += 1;
            } else if (outcome.kind === "NO_BIDS") summary.noBids += 1;
            else if (outcome.kind === "SETTLED") summary.settled += 1;
          } catch (error) {
            // One task failing must not hold back the others; its bid window stays, so the next
            // sweep tries it again.
            summary.failed += 1;
            logger?.error("Award failed", { task_id, error: describeError(error) });
          }
        });
        if (cursor && summary.examined >= maxTasks) summary.more = true;
      } while (cursor && summary.examined < maxTasks);
      return summary;
    },
  };
}
