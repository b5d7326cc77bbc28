import { forEachConcurrent } from "../../lib/concurrency.js";
import type { AgentRepository } from "../../ports/agent-repository.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import type { AgentEndpoint, EndpointSender } from "../../ports/endpoint-sender.js";
import { MAX_PAGE_SIZE } from "../../ports/pagination.js";
import type { TaskRepository } from "../../ports/task-repository.js";
import { type AgentProfile, isListed } from "../agents/agent.types.js";
import { NotFoundError } from "../errors.js";
import type { TaskStatus } from "../tasks/task.schema.js";
import type { Task } from "../tasks/task.types.js";
import type { DeliveryResult } from "./bidding.types.js";
import type { BidRequest } from "./messages.js";
import { type BackoffOptions, withBackoff } from "./retry.js";

/** Delivery retries per agent: 3 attempts, waits of 50–100 ms then 100–200 ms (see `backoffDelay`). */
export const DEFAULT_DISPATCH_RETRY = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } as const;
/** Deliveries in flight at once for one task. */
export const DEFAULT_DISPATCH_CONCURRENCY = 10;
/** Most keys per consistent profile read (the BatchGetItem limit). */
const PROFILE_BATCH = 100;

export interface DispatchServiceOptions {
  agents: AgentRepository;
  bidding: BiddingRepository;
  tasks: TaskRepository;
  sender: EndpointSender;
  /** The bids queue URL, sent as `reply_to`. */
  bidsQueueUrl: string;
  /** Clock for the deadline check. */
  now?: () => Date;
  /** Overrides of {@link DEFAULT_DISPATCH_RETRY}; tests also inject `sleep` and `random`. */
  retry?: Partial<BackoffOptions>;
  /** Deliveries in flight at once; default {@link DEFAULT_DISPATCH_CONCURRENCY}. */
  concurrency?: number;
}

/** Why a task was not dispatched. */
export type DispatchSkipReason = "NOT_OPEN" | "DEADLINE_PASSED" | "NO_DEADLINE";

/** One agent whose bid request could not be delivered in this run. */
export interface DispatchFailure {
  agent_id: string;
  attempts: number;
  error: string;
}

/** What one dispatch run did. Counts refer to this run; nothing in it is secret. */
export interface DispatchSummary {
  task_id: string;
  task_status: TaskStatus;
  /** Set when nothing was sent; every count is then 0. */
  skipped?: DispatchSkipReason;
  /** Capable, listed agents, all holding an invitation after this run. */
  invited: number;
  /** Of those, invited for the first time by this run. */
  newly_invited: number;
  /** Bid requests delivered in this run. */
  delivered: number;
  /** Bid requests that failed in this run, after retries; see `failures`. */
  failed: number;
  /** Invited agents not sent to again: an earlier run delivered to them, or they already answered. */
  already_delivered: number;
  failures: DispatchFailure[];
}

export interface DispatchService {
  dispatch(taskId: string): Promise<DispatchSummary>;
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
 * Sends a new task's call for proposals (FIPA Contract Net) to every capable, active agent.
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
 * 3. Invites them all (`bidding.invite`, idempotent) and sends to every invited agent whose bid item
 *    is not DELIVERED yet and who has not answered (read from the task record of step 1). A re-run
 *    after a crash, or a redelivered stream record, therefore re-sends only what is missing; delivery
 *    is at least once, so agents should treat a repeated `task_id` as the same request.
 * 4. Each message is `{"type":"BID_REQUEST","task_id","title","capabilities","budget" (null when
 *    none),"deadline","reply_to": <bids queue URL>}`, signed with the agent's own secret by the sender.
 *    Deliveries run at most `concurrency` at a time, each retried with jittered exponential backoff
 *    (`withBackoff`; failures the sender marks non-retryable stop at once), and each agent's result
 *    is recorded on its bid item (`recordDelivery`: DELIVERED or FAILED, attempts, error). A failing
 *    endpoint is recorded FAILED and never blocks or fails the others; an agent without a secret is
 *    recorded FAILED with 0 attempts rather than sent an unsigned request.
 * 5. Returns a {@link DispatchSummary}. It throws only for infrastructure failures (table reads and
 *    writes), and then only after every other agent's delivery has run and been recorded, so the
 *    caller's retry resends just the rest.
 *
 * Secrets never leave this function except into `sender.send`, and nothing here logs.
 */
export function createDispatchService({
  agents,
  bidding,
  tasks,
  sender,
  bidsQueueUrl,
  now = () => new Date(),
  retry = {},
  concurrency = DEFAULT_DISPATCH_CONCURRENCY,
}: DispatchServiceOptions): DispatchService {
  const backoff: BackoffOptions = { ...DEFAULT_DISPATCH_RETRY, ...retry };

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

    const unique = [...new Set(ids)].sort();
    const profiles: AgentProfile[] = [];
    for (let i = 0; i < unique.length; i += PROFILE_BATCH) {
      const batch = await agents.getProfiles(unique.slice(i, i + PROFILE_BATCH));
      for (const profile of batch.values()) {
        if (isListed(profile) && hasAll(profile.capabilities, required)) profiles.push(profile);
      }
    }
    return profiles.sort((a, b) => a.agent_id.localeCompare(b.agent_id));
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
        delivered: 0,
        failed: 0,
        already_delivered: 0,
        failures: [],
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
      const done = new Set(
        record.bids
          .filter((b) => b.delivery_status === "DELIVERED" || b.status !== "INVITED")
          .map((b) => b.agent_id),
      );
      const pending = capable.filter((p) => !done.has(p.agent_id));
      summary.invited = capable.length;
      summary.newly_invited = fresh.length;
      summary.already_delivered = capable.length - pending.length;

      await forEachConcurrent(pending, concurrency, async (profile) => {
        const message = bidRequest(task, profile.agent_id, bidsQueueUrl, deadline);
        const endpoint: AgentEndpoint = {
          agent_id: profile.agent_id,
          bidding_endpoint: profile.bidding_endpoint,
          endpoint_kind: profile.endpoint_kind,
        };
        const secret = await agents.getSecret(profile.agent_id);
        const result: DeliveryResult = secret
          ? await withBackoff(() => sender.send(endpoint, message, secret), backoff)
          : { ok: false, attempts: 0, error: "agent has no bid-signing secret" };
        await bidding.recordDelivery(task.task_id, profile.agent_id, result);
        if (result.ok) {
          summary.delivered += 1;
        } else {
          summary.failed += 1;
          summary.failures.push({
            agent_id: profile.agent_id,
            attempts: result.attempts,
            error: result.error,
          });
        }
      });
      summary.failures.sort((a, b) => a.agent_id.localeCompare(b.agent_id));
      return summary;
    },
  };
}
