import { mapConcurrent } from "../../lib/concurrency.js";
import { assertBeforeDeadline } from "../../lib/deadline.js";
import type { AgentRepository } from "../../ports/agent-repository.js";
import type { AwardTrigger } from "../../ports/award-trigger.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import type { EndpointSender } from "../../ports/endpoint-sender.js";
import type { TaskRepository } from "../../ports/task-repository.js";
import { type AgentProfile, isListed } from "../agents/agent.types.js";
import { ConflictError } from "../errors.js";
import type { TaskStatus } from "../tasks/task.schema.js";
import type { Award, Bid, Task, TaskRecord } from "../tasks/task.types.js";
import type { DeliveryStatus } from "./bidding.types.js";
import type { AwardNotice, RejectionNotice } from "./messages.js";
import { describeError, withBackoff } from "./retry.js";
import { type RankedCandidate, rankBids } from "./scoring.js";

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
 * to the next-best bid. Once the award is made final, the approver calls {@link AwardService.notify}.
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
  sender: EndpointSender;
  /** `reply_to` of the AWARD notice: where the winner sends its COST_REPORT. */
  bidsQueueUrl: string;
  approval?: ApprovalPolicy;
  now?: () => Date;
  logger?: AwardLogger;
  /**
   * Delivery attempts per notice (default 3) with jittered exponential backoff from `baseDelayMs`
   * (default 200 ms, at most `maxDelayMs`, default 2 s), as bid requests are delivered.
   */
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
  /**
   * How long after an award a run that did not make it leaves undelivered notices to the run that did
   * (default 5 minutes). Must exceed the longest time an awarding invocation can run (its Lambda
   * timeout), so a parallel run never sends a notice the awarding run is still sending, and a notice
   * left undelivered by a crash is sent by the first run after it. A FAILED notice (every attempt
   * used) is resent by any later run without waiting.
   */
  noticeGraceMs?: number;
  /** How long undelivered notices are retried by the sweeper before the task's bid window closes (default 24 h). */
  noticeGiveUpMs?: number;
  /** Notices, and tasks in a sweep, handled at once (default 8). */
  concurrency?: number;
  /** Waits between delivery attempts (a timer by default); tests pass a no-op. */
  sleep?: (ms: number) => Promise<void>;
}

/** The result of delivering one notice. */
export interface NoticeResult {
  agent_id: string;
  notice: "AWARD" | "REJECTION";
  status: Exclude<DeliveryStatus, "PENDING">;
  attempts: number;
  error?: string;
}

/** What one award run did. */
export type AwardOutcome =
  | { kind: "NOT_FOUND"; task_id: string }
  /** Still OPEN: before the deadline and some invited agent has not answered. */
  | { kind: "NOT_DUE"; task_id: string }
  /** No valid bid: the task is now NO_BIDS. */
  | { kind: "NO_BIDS"; task_id: string; notices: NoticeResult[] }
  /** This run made the award (AWARDED or PENDING_APPROVAL). */
  | {
      kind: "AWARDED";
      task_id: string;
      award: Award;
      ranking: RankedCandidate<ValidBid>[];
      notices: NoticeResult[];
    }
  /** Decided before (or by a parallel run); only missing notices were (re)sent. */
  | { kind: "SETTLED"; task_id: string; status: TaskStatus; notices: NoticeResult[] };

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
 * Awards tasks and tells bidders. Implements {@link AwardTrigger} for the bid worker (early award) and
 * `sweep` for the scheduled job (award at the deadline).
 */
export interface AwardService extends AwardTrigger {
  /** {@link AwardTrigger.awardIfDue}, reporting what the run did (for logs and tests). */
  evaluate(taskId: string): Promise<AwardOutcome>;
  /** Runs {@link evaluate} for open tasks whose deadline is at or before `now`, earliest first. */
  sweep(now?: Date, options?: SweepOptions): Promise<SweepSummary>;
  /**
   * Sends every notice of an AWARDED (or NO_BIDS) task that is not DELIVERED yet, at once. For the
   * caller that just made an award final, e.g. a human approval.
   */
  notify(taskId: string): Promise<NoticeResult[]>;
}

const PAGE_SIZE = 25;

const OUTBID = "OUTBID: another bid ranked higher under the marketplace's published scoring rule";
const INELIGIBLE = "INELIGIBLE: the agent was suspended or kill-switched before the award";
const APPROVAL_REJECTED = "APPROVAL_REJECTED: a reviewer declined to award this task to the agent";

function hasScorableFields(bid: Bid): bid is ValidBid {
  return (
    bid.status === "ACCEPTED" &&
    typeof bid.bid_amount === "number" &&
    typeof bid.estimated_completion_sec === "number" &&
    typeof bid.answered_at === "string"
  );
}

function withinBudget(task: Task, amount: number): boolean {
  return task.budget === undefined || amount <= task.budget;
}

/**
 * Bids sent before the deadline may still be in the bids queue when it passes; the award waits this
 * long after the deadline so that they are judged (by their send time) before bidding closes.
 */
export const DEADLINE_GRACE_MS = 30_000;

function deadlinePassed(task: Task, at: Date): boolean {
  return task.bid_deadline !== undefined && Date.parse(task.bid_deadline) + DEADLINE_GRACE_MS <= at.getTime();
}

/**
 * Every invited agent answered, from the task's own counters: `invited_count` moves with each bid
 * item created and `answered_count` with each first answer, in the same transactions, so this is O(1)
 * however many agents bid (a revised bid is not counted again). A task without counters (written
 * before they existed) is awarded at its deadline.
 */
function allAnswered(task: Task): boolean {
  const invited = task.invited_count ?? 0;
  return invited > 0 && (task.answered_count ?? 0) >= invited;
}

interface PlannedNotice {
  agentId: string;
  message: AwardNotice | RejectionNotice;
}

/**
 * Creates the award service over the task, bidding and agent stores and an endpoint sender.
 *
 * One run (`awardIfDue` / `evaluate`):
 * 1. Reads the task record consistently. Not OPEN: only (re)sends the notices it still owes, see
 *    `noticeGraceMs`.
 * 2. OPEN but before the deadline and with some invited agent yet to answer: does nothing.
 * 3. Valid bids are ACCEPTED ones within the budget (if any) from agents still active and not
 *    kill-switched (profiles read consistently). None: the task becomes NO_BIDS.
 * 4. Otherwise ranks them by the scoring rule (`scoring.ts`), asks the {@link ApprovalPolicy}, and
 *    writes the one award in a conditional transaction. Losing that race (ConflictError) means
 *    another run won: this one only heals notices.
 * 5. The deciding run re-reads the bids (final, since none can be written once the task left OPEN) and
 *    sends each notice with retries, recording DELIVERED/FAILED on the bidder's item.
 */
/** Rounds of one award run: the step from OPEN to CLOSING, then re-rankings while the winner keeps revising its bid. */
const MAX_AWARD_ROUNDS = 4;

export function createAwardService({
  tasks,
  bidding,
  agents,
  sender,
  bidsQueueUrl,
  approval = AWARD_WITHOUT_APPROVAL,
  now = () => new Date(),
  logger,
  retry = {},
  noticeGraceMs = 5 * 60_000,
  noticeGiveUpMs = 24 * 3600_000,
  concurrency = 8,
  sleep,
}: AwardServiceOptions): AwardService {
  const { attempts = 3, baseDelayMs = 200, maxDelayMs = 2000 } = retry;

  async function readRecord(taskId: string): Promise<TaskRecord | undefined> {
    return tasks.getTaskRecord(taskId, { consistent: true, rejections: 0 });
  }

  /**
   * The notices a decided task owes, from its stored bids: the winner of an AWARDED task gets AWARD,
   * every other agent whose bid stands ACCEPTED gets REJECTION with the reason it lost. A
   * PENDING_APPROVAL task owes nothing yet.
   */
  function planNotices(record: TaskRecord, profiles: Map<string, AgentProfile>): PlannedNotice[] {
    const { task, award } = record;
    const awarded = task.status === "AWARDED" && award?.status === "AWARDED";
    if (!awarded && task.status !== "NO_BIDS") return [];
    return record.bids
      .filter((bid) => bid.status === "ACCEPTED")
      .map((bid): PlannedNotice => {
        if (awarded && award && bid.agent_id === award.agent_id) {
          return {
            agentId: bid.agent_id,
            message: {
              type: "AWARD",
              task_id: task.task_id,
              agent_id: award.agent_id,
              bid_amount: award.bid_amount,
              awarded_at: award.awarded_at,
              reply_to: bidsQueueUrl,
            },
          };
        }
        const profile = profiles.get(bid.agent_id);
        const reason = task.approval_excluded_agents?.includes(bid.agent_id)
          ? APPROVAL_REJECTED
          : bid.bid_amount !== undefined && !withinBudget(task, bid.bid_amount)
            ? `OVER_BUDGET: bid ${bid.bid_amount} exceeds the budget ${task.budget}`
            : profile && !isListed(profile)
              ? INELIGIBLE
              : OUTBID;
        return {
          agentId: bid.agent_id,
          message: { type: "REJECTION", task_id: task.task_id, agent_id: bid.agent_id, reason },
        };
      });
  }

  /** Sends one notice with retries and records the result on the agent's bid item. */
  async function deliver(notice: PlannedNotice, profile: AgentProfile | undefined): Promise<NoticeResult> {
    const { agentId, message } = notice;
    const base = { agent_id: agentId, notice: message.type };
    let result: NoticeResult;
    const secret = profile ? await agents.getSecret(agentId) : undefined;
    if (!profile || !secret) {
      result = { ...base, status: "FAILED", attempts: 0, error: "agent has no profile or no signing secret" };
    } else {
      const endpoint = {
        agent_id: agentId,
        bidding_endpoint: profile.bidding_endpoint,
        endpoint_kind: profile.endpoint_kind,
      };
      const delivery = await withBackoff(() => sender.send(endpoint, message, secret), {
        attempts,
        baseDelayMs,
        maxDelayMs,
        ...(sleep ? { sleep } : {}),
      });
      result = delivery.ok
        ? { ...base, status: "DELIVERED", attempts: delivery.attempts }
        : { ...base, status: "FAILED", attempts: delivery.attempts, error: delivery.error };
    }
    await bidding.recordNotice(message.task_id, agentId, message.type, result.status);
    const keys = {
      task_id: message.task_id,
      agent_id: agentId,
      notice: message.type,
      attempts: result.attempts,
    };
    if (result.status === "DELIVERED") logger?.info("Notice delivered", keys);
    else logger?.warn("Notice not delivered", { ...keys, error: result.error });
    return result;
  }

  /**
   * Sends the notices `record` owes that are not DELIVERED. As `owner` (the run that decided the task
   * or made it final) it sends them all; otherwise only those whose last attempt FAILED, and the rest
   * once the decision is older than `noticeGraceMs` — before that, the deciding run is still sending.
   */
  async function sendNotices(record: TaskRecord, at: Date, owner: boolean): Promise<NoticeResult[]> {
    const bidsByAgent = new Map(record.bids.map((bid) => [bid.agent_id, bid]));
    const decidedAt = Date.parse(record.award?.awarded_at ?? record.task.updated_at);
    const graceOver = at.getTime() - decidedAt >= noticeGraceMs;
    const accepted = record.bids.filter((bid) => bid.status === "ACCEPTED").map((bid) => bid.agent_id);
    const profiles =
      accepted.length > 0 ? await agents.getProfiles(accepted) : new Map<string, AgentProfile>();
    const planned = planNotices(record, profiles);
    const due = planned.filter(({ agentId }) => {
      const status = bidsByAgent.get(agentId)?.notice_status;
      if (status === "DELIVERED") return false;
      return owner || status === "FAILED" || graceOver;
    });
    const results = await mapConcurrent(due, concurrency, (notice) =>
      deliver(notice, profiles.get(notice.agentId)),
    );
    await closeWindowIfSettled(record, planned, results, at, decidedAt);
    return results;
  }

  /**
   * A decided task keeps its bid window, and so its place in the sweeper's index, until every notice it
   * owes is delivered; then the window closes. An endpoint that never takes a notice is given up on
   * after `noticeGiveUpMs`, with an error log, so the sweeper does not retry it forever.
   */
  async function closeWindowIfSettled(
    record: TaskRecord,
    planned: PlannedNotice[],
    results: NoticeResult[],
    at: Date,
    decidedAt: number,
  ): Promise<void> {
    // Undecided, or awaiting approval: the window stays so the sweeper heals the notices that follow.
    if (
      record.task.status === "OPEN" ||
      record.task.status === "CLOSING" ||
      record.task.status === "PENDING_APPROVAL"
    ) {
      return;
    }
    const sent = new Map(results.map((r) => [r.agent_id, r.status]));
    const stored = new Map(record.bids.map((bid) => [bid.agent_id, bid.notice_status]));
    const undelivered = planned.filter(
      ({ agentId }) => (sent.get(agentId) ?? stored.get(agentId)) !== "DELIVERED",
    );
    if (undelivered.length > 0 && at.getTime() - decidedAt < noticeGiveUpMs) return;
    if (undelivered.length > 0) {
      logger?.error("Giving up on undelivered notices", {
        task_id: record.task.task_id,
        agents: undelivered.map((n) => n.agentId),
      });
    }
    await bidding.closeBidWindow(record.task.task_id);
  }

  /** Another run decided the task (or it was decided before): heal missing notices only. */
  async function settle(taskId: string, at: Date): Promise<AwardOutcome> {
    const record = await readRecord(taskId);
    if (!record) return { kind: "NOT_FOUND", task_id: taskId };
    const notices = await sendNotices(record, at, false);
    return { kind: "SETTLED", task_id: taskId, status: record.task.status, notices };
  }

  async function awardAt(taskId: string, at: Date, rounds = 1): Promise<AwardOutcome> {
    // A later round (after closing, or after the winner revised its bid) never starts past the
    // invocation's deadline: the task stays CLOSING or OPEN with its window, and is retried.
    if (rounds > 1) assertBeforeDeadline(`award of ${taskId}, round ${rounds}`);
    const record = await readRecord(taskId);
    if (!record) return { kind: "NOT_FOUND", task_id: taskId };
    const { task } = record;
    if (task.status !== "OPEN" && task.status !== "CLOSING") {
      const notices = await sendNotices(record, at, false);
      return { kind: "SETTLED", task_id: taskId, status: task.status, notices };
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
      if (!(await bidding.closeWithoutBids(taskId))) return settle(taskId, at);
      logger?.info("Task closed without valid bids", { task_id: taskId, bids: record.bids.length });
      // Read again: the final set of bids, since none can be written once the task left OPEN.
      const closed = await readRecord(taskId);
      const notices = closed ? await sendNotices(closed, at, true) : [];
      return { kind: "NO_BIDS", task_id: taskId, notices };
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
      if (error instanceof ConflictError) return settle(taskId, at);
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
    const decided = await readRecord(taskId);
    const notices = decided ? await sendNotices(decided, at, true) : [];
    return { kind: "AWARDED", task_id: taskId, award, ranking, notices };
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

    async notify(taskId) {
      const record = await readRecord(taskId);
      return record ? sendNotices(record, now(), true) : [];
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
