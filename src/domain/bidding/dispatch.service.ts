import type { AgentRepository } from "../../ports/agent-repository.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import { MAX_PAGE_SIZE } from "../../ports/pagination.js";
import type { TaskRepository } from "../../ports/task-repository.js";
import { type AgentProfile, isListed } from "../agents/agent.types.js";
import { NotFoundError } from "../errors.js";
import type { TaskStatus } from "../tasks/task.schema.js";
import type { Task } from "../tasks/task.types.js";
import type { DeliveryJob, DeliveryQueue } from "./delivery.js";
import type { BidRequest } from "./messages.js";
import { planNotices } from "./notices.js";

/** Most keys per consistent profile read (the BatchGetItem limit). */
const PROFILE_BATCH = 100;
/**
 * How old a PENDING invitation must be before a re-run enqueues its job again. A duplicate dispatch
 * message (a retried stream batch) arrives within seconds, while its jobs are still on the queue, and
 * must add nothing; a redelivery after a crash between the invitations and the enqueue comes after the
 * queue's visibility timeout (minutes), when the invitations are older than this.
 */
export const REDISPATCH_AFTER_MS = 60_000;

export interface DispatchServiceOptions {
  agents: AgentRepository;
  bidding: BiddingRepository;
  tasks: TaskRepository;
  /** Where the per-agent jobs go: the delivery worker signs and sends each one. */
  deliveries: DeliveryQueue;
  /** The bids queue URL, sent as `reply_to`. */
  bidsQueueUrl: string;
  /** Clock for the deadline check. */
  now?: () => Date;
}

/** Why a task was not dispatched. */
export type DispatchSkipReason = "NOT_OPEN" | "DEADLINE_PASSED" | "NO_DEADLINE";

/** What one dispatch run did. Counts refer to this run; nothing in it is secret. */
export interface DispatchSummary {
  task_id: string;
  task_status: TaskStatus;
  /** Set when nothing was enqueued; every count is then 0. */
  skipped?: DispatchSkipReason;
  /** Capable, listed agents, all holding an invitation after this run. */
  invited: number;
  /** Of those, invited for the first time by this run. */
  newly_invited: number;
  /** Bid requests put on the delivery queue by this run, one job per agent. */
  enqueued: number;
  /**
   * Invited agents not enqueued by this run: an earlier job settled their delivery (DELIVERED or
   * FAILED), they already answered, or an earlier run's job for them is still on its way.
   */
  already_settled: number;
}

/** What one notice run did. */
export interface NotifySummary {
  task_id: string;
  task_status: TaskStatus;
  /** AWARD / REJECTION notices put on the delivery queue (those not DELIVERED yet). */
  enqueued: number;
}

export interface DispatchService {
  dispatch(taskId: string): Promise<DispatchSummary>;
  /**
   * Enqueues the notices a decided task still owes (see `planNotices`): the table stream asks for
   * this when an award becomes AWARDED or a task NO_BIDS. Nothing for a task that owes none.
   */
  notify(taskId: string): Promise<NotifySummary>;
}

function hasAll(capabilities: readonly string[], required: readonly string[]): boolean {
  return required.every((capability) => capabilities.includes(capability));
}

/** The call for proposals to one agent: it names its recipient, so it cannot be passed off to another. */
function bidRequest(task: Task, agentId: string, bidsQueueUrl: string, deadline: string): BidRequest {
  return {
    type: "BID_REQUEST",
    task_id: task.task_id,
    agent_id: agentId,
    title: task.title,
    capabilities: task.required_capabilities,
    budget: task.budget ?? null,
    deadline,
    reply_to: bidsQueueUrl,
  };
}

/**
 * Sends a new task's call for proposals (FIPA Contract Net) to every capable, active agent, as one
 * delivery job per agent, so a dead endpoint delays only its own job.
 *
 * `dispatch(taskId)`:
 * 1. Reads the task with a consistent read; a missing task is a {@link NotFoundError}. Nothing is sent
 *    unless the task is OPEN, has a bid deadline, and that deadline is still ahead (`skipped` says
 *    which): a request nobody could answer in time is noise.
 * 2. Finds capable agents: of the required capabilities it queries only the one with the fewest
 *    listed agents (`listedCounts`, ties by name) on the capability index, over every page, and keeps
 *    listings that carry every other required capability too. The index is eventually consistent, so
 *    each candidate's profile is then read consistently and only agents that are listed (active, kill
 *    switch off) and still have every capability are kept; the profile's endpoint is the one used.
 * 3. Invites them all (`bidding.invite`, idempotent) and enqueues a job for every agent this run
 *    invited, and for every earlier invitation still PENDING, unanswered and older than
 *    {@link REDISPATCH_AFTER_MS} (read from the task record of step 1): a redelivery after a crash
 *    enqueues what no job settled, a duplicate message seconds later enqueues nothing, and a FAILED
 *    endpoint, which already counts as not answering, is never retried at everyone else's expense.
 *    Delivery is at least once, so agents should treat a repeated `task_id` as the same request.
 * 4. Each message is `{"type":"BID_REQUEST","task_id","agent_id","title","capabilities","budget"
 *    (null when none),"deadline","reply_to": <bids queue URL>}`; the delivery worker signs it with
 *    the agent's own secret, so this function never reads a secret.
 * 5. Returns a {@link DispatchSummary}. It throws for infrastructure failures (table reads and
 *    writes, a job the queue refused), and the queue's retry enqueues only what is missing.
 */
export function createDispatchService({
  agents,
  bidding,
  tasks,
  deliveries,
  bidsQueueUrl,
  now = () => new Date(),
}: DispatchServiceOptions): DispatchService {
  async function candidates(required: string[]): Promise<AgentProfile[]> {
    if (required.length === 0) return [];
    const counts = await agents.listedCounts(required);
    const [rarest] = [...required].sort(
      (a, b) => (counts.get(a) ?? 0) - (counts.get(b) ?? 0) || a.localeCompare(b),
    );
    if (rarest === undefined || (counts.get(rarest) ?? 0) === 0) return [];

    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await agents.findByCapability(rarest, {
        limit: MAX_PAGE_SIZE,
        ...(cursor ? { cursor } : {}),
      });
      for (const listing of page.items) {
        if (hasAll(listing.capabilities, required)) ids.push(listing.agent_id);
      }
      cursor = page.cursor;
    } while (cursor);

    const profiles = [...(await readProfiles(ids)).values()].filter(
      (profile) => isListed(profile) && hasAll(profile.capabilities, required),
    );
    return profiles.sort((a, b) => a.agent_id.localeCompare(b.agent_id));
  }

  /** Consistent reads of these agents' profiles, {@link PROFILE_BATCH} per BatchGetItem. */
  async function readProfiles(ids: readonly string[]): Promise<Map<string, AgentProfile>> {
    const unique = [...new Set(ids)].sort();
    const profiles = new Map<string, AgentProfile>();
    for (let i = 0; i < unique.length; i += PROFILE_BATCH) {
      const batch = await agents.getProfiles(unique.slice(i, i + PROFILE_BATCH));
      for (const [id, profile] of batch) profiles.set(id, profile);
    }
    return profiles;
  }

  return {
    async dispatch(taskId) {
      const record = await tasks.getTaskRecord(taskId, { consistent: true, rejections: 0 });
      if (!record) throw new NotFoundError("task", taskId);
      const { task } = record;
      const summary: DispatchSummary = {
        task_id: task.task_id,
        task_status: task.status,
        invited: 0,
        newly_invited: 0,
        enqueued: 0,
        already_settled: 0,
      };
      if (task.status !== "OPEN") return { ...summary, skipped: "NOT_OPEN" };
      const deadline = task.bid_deadline;
      if (!deadline) return { ...summary, skipped: "NO_DEADLINE" };
      if (Date.parse(deadline) <= now().getTime()) return { ...summary, skipped: "DEADLINE_PASSED" };

      const capable = await candidates(task.required_capabilities);
      if (capable.length === 0) return summary;
      const fresh = await bidding.invite(
        task.task_id,
        capable.map((p) => p.agent_id),
      );
      const newlyInvited = new Set(fresh);
      const staleBefore = now().getTime() - REDISPATCH_AFTER_MS;
      const earlier = new Map(record.bids.map((b) => [b.agent_id, b]));
      const pending = capable.filter((p) => {
        if (newlyInvited.has(p.agent_id)) return true;
        const bid = earlier.get(p.agent_id);
        // Invited by a run that may have died before its enqueue (not by this run, nor a moment ago).
        return (
          bid !== undefined &&
          bid.status === "INVITED" &&
          (bid.delivery_status ?? "PENDING") === "PENDING" &&
          Date.parse(bid.invited_at) <= staleBefore
        );
      });
      const jobs: DeliveryJob[] = pending.map((profile) => ({
        task_id: task.task_id,
        agent_id: profile.agent_id,
        bidding_endpoint: profile.bidding_endpoint,
        endpoint_kind: profile.endpoint_kind,
        message: bidRequest(task, profile.agent_id, bidsQueueUrl, deadline),
      }));
      await deliveries.enqueue(jobs);
      summary.invited = capable.length;
      summary.newly_invited = fresh.length;
      summary.enqueued = jobs.length;
      summary.already_settled = capable.length - pending.length;
      return summary;
    },

    async notify(taskId) {
      const record = await tasks.getTaskRecord(taskId, { consistent: true, rejections: 0 });
      if (!record) throw new NotFoundError("task", taskId);
      const accepted = record.bids.filter((b) => b.status === "ACCEPTED").map((b) => b.agent_id);
      const profiles = await readProfiles(accepted);
      const jobs = planNotices(record, profiles, bidsQueueUrl);
      await deliveries.enqueue(jobs);
      return { task_id: taskId, task_status: record.task.status, enqueued: jobs.length };
    },
  };
}
