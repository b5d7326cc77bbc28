import type { AgentProfile } from "../../domain/agents/agent.types.js";
import {
  addTotals,
  contributionOf,
  deriveHistory,
  type PerformanceTotals,
  ZERO_TOTALS,
} from "../../domain/agents/performance.js";
import type { BidRejection } from "../../domain/bidding/bidding.types.js";
import { ConflictError, NotFoundError } from "../../domain/errors.js";
import type { LedgerEntry, LedgerEntryInput } from "../../domain/ledger/ledger.schema.js";
import { emptyEvidence, mergeEvidence } from "../../domain/tasks/evidence.js";
import type { NewTask } from "../../domain/tasks/task.schema.js";
import type { Award, Bid, NewAward, Task, TaskRecord } from "../../domain/tasks/task.types.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page, type PageRequest } from "../../ports/pagination.js";
import type { RecordOutcomeResult, TaskRepository } from "../../ports/task-repository.js";
import { BID_WINDOW_SHARDS, bidWindowShard } from "./bid-window-shard.js";
import {
  checkCursor,
  invalidCursor,
  isConditionalCheckFailed,
  RETRYABLE_TRANSACTION_CODES,
  RetryableConflict,
  type RetryOptions,
  rethrowCursorError,
  withOptimisticRetry,
} from "./dynamo-errors.js";
import type { MarketplaceService } from "./marketplace-service.js";

export interface TaskRepositoryOptions {
  service: MarketplaceService;
  now?: () => Date;
  /** Optimistic-concurrency retry limits for outcomes and evidence (see {@link RetryOptions}). */
  retry?: RetryOptions;
}

/** Rejection records returned with a task record unless asked otherwise: the newest ones. */
const DEFAULT_REJECTIONS = 100;

/** The bid window item of a task, with its GSI3 shard. */
function windowItem(taskId: string, bidDeadline: string) {
  return { task_id: taskId, bid_deadline: bidDeadline, shard: bidWindowShard(taskId) };
}

/** GSI3 sort key of a window: `<deadline>#<url>` (deadlines are fixed-width ISO, without `#`). */
const windowSortKey = (w: { task_id: string; bid_deadline: string }) => `${w.bid_deadline}#${w.task_id}`;

/** Base64url JSON of a window's `LastEvaluatedKey` in `shard`: the cursor ElectroDB takes for a Query. */
function windowStartKey(sortKey: string, shard: number): string {
  const taskId = sortKey.slice(sortKey.indexOf("#") + 1);
  const key = { PK: `TASK#${taskId}`, SK: "BID_WINDOW", GSI3PK: `OPEN_TASK#${shard}`, GSI3SK: sortKey };
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** The GSI3 sort key an `openTasksDueBy` cursor continues after; anything else is an invalid cursor. */
function windowCursorPosition(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as Record<string, string>;
  const sortKey = key.GSI3SK;
  if (!key.GSI3PK?.startsWith("OPEN_TASK#") || !sortKey || !/^[^#]+#.+/.test(sortKey)) {
    throw invalidCursor();
  }
  return sortKey;
}

/** DynamoDB's order of string keys: by UTF-8 bytes. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** DynamoDB (ElectroDB) implementation of {@link TaskRepository}. */
export function createTaskRepository({
  service,
  now = () => new Date(),
  retry,
}: TaskRepositoryOptions): TaskRepository {
  const { task: tasks, agentProfile, ledgerEntry, bidWindow } = service.entities;

  async function getTask(taskId: string): Promise<Task | undefined> {
    const { data } = await tasks.get({ task_id: taskId }).go({ consistent: true });
    return (data as Task | null) ?? undefined;
  }

  async function getProfiles(agentIds: string[]): Promise<Map<string, AgentProfile>> {
    const profiles = new Map<string, AgentProfile>();
    for (const agentId of agentIds) {
      const { data } = await agentProfile.get({ agent_id: agentId }).go({ consistent: true });
      if (!data) throw new NotFoundError("agent", agentId);
      profiles.set(agentId, data as AgentProfile);
    }
    return profiles;
  }

  /** Per-agent change of totals: the new entry's contribution minus the superseded one's. */
  function deltas(
    entry: LedgerEntryInput,
    supersedes: LedgerEntry | undefined,
  ): Map<string, PerformanceTotals> {
    const result = new Map<string, PerformanceTotals>([[entry.winning_agent_id, contributionOf(entry)]]);
    if (supersedes) {
      const base = result.get(supersedes.winning_agent_id) ?? ZERO_TOTALS;
      result.set(supersedes.winning_agent_id, addTotals(base, contributionOf(supersedes), -1));
    }
    return result;
  }

  /** Same economic content: a repeated write of this entry is a duplicate, anything else a conflict. */
  function sameOutcome(a: LedgerEntry, b: LedgerEntry): boolean {
    return (
      a.winning_agent_id === b.winning_agent_id &&
      a.status === b.status &&
      a.quality_score === b.quality_score &&
      a.bid_amount === b.bid_amount &&
      a.actual_cost === b.actual_cost &&
      a.completion_time_sec === b.completion_time_sec &&
      a.supersedes === b.supersedes
    );
  }

  async function attemptRecord(entry: LedgerEntryInput, supersedesAt?: string): Promise<RecordOutcomeResult> {
    // The superseded contribution is read here, never taken from the caller, so totals can only
    // move by what the ledger actually holds.
    let superseded: LedgerEntry | undefined;
    if (supersedesAt !== undefined) {
      const { data } = await ledgerEntry
        .get({ task_id: entry.task_id, completion_timestamp: supersedesAt })
        .go({ consistent: true });
      if (!data)
        throw new ConflictError(`Task ${entry.task_id} has no ledger entry at ${supersedesAt} to supersede`);
      superseded = data as LedgerEntry;
    }
    const changes = deltas(entry, superseded);
    const profiles = await getProfiles([...changes.keys()]);
    const recordedAt = now().toISOString();
    const stored: LedgerEntry = {
      type: "TASK_LEDGER_ENTRY",
      ...entry,
      ...(superseded ? { supersedes: superseded.completion_timestamp } : {}),
      recorded_at: recordedAt,
    };
    const { type: _type, ...ledgerFields } = stored;

    const result = await service.transaction
      .write(({ ledgerEntry: ledger, task, award, agentProfile: profilesEntity }) => [
        ledger.create(ledgerFields).commit(),
        task
          .patch({ task_id: entry.task_id })
          .set({
            latest_outcome_at: entry.completion_timestamp,
            latest_outcome_status: entry.status,
            latest_outcome_quality: entry.quality_score,
            updated_at: recordedAt,
          })
          .where((attr, { eq, notExists }) =>
            superseded
              ? eq(attr.latest_outcome_at, superseded.completion_timestamp)
              : notExists(attr.latest_outcome_at),
          )
          .commit(),
        // Only the task's awarded winner can be credited with an outcome.
        award
          .check({ task_id: entry.task_id })
          .where(
            (attr, { eq }) =>
              `${eq(attr.agent_id, entry.winning_agent_id)} AND ${eq(attr.status, "AWARDED")}`,
          )
          .commit(),
        ...[...changes].map(([agentId, delta]) => {
          const profile = profiles.get(agentId) as AgentProfile;
          const totals = addTotals(profile.performance_totals, delta);
          return profilesEntity
            .patch({ agent_id: agentId })
            .set({
              performance_totals: totals,
              performance_history: deriveHistory(totals),
              version: profile.version + 1,
              updated_at: recordedAt,
            })
            .where((attr, { eq }) => eq(attr.version, profile.version))
            .commit();
        }),
      ])
      .go();
    if (!result.canceled) return { recorded: true, entry: stored };

    const outcomes: Array<{ code: string }> = result.data;
    const [ledgerWrite, taskWrite, awardCheck, ...profileWrites] = outcomes;
    if (ledgerWrite?.code === "ConditionalCheckFailed") {
      const existing = await ledgerEntry
        .get({ task_id: entry.task_id, completion_timestamp: entry.completion_timestamp })
        .go({ consistent: true });
      const found = existing.data as LedgerEntry | null;
      if (found && sameOutcome(found, stored)) return { recorded: false, reason: "duplicate", entry: found };
      throw new ConflictError(
        `Task ${entry.task_id} already has a different ledger entry at ${entry.completion_timestamp}`,
      );
    }
    if (outcomes.some((item) => item.code === "TransactionConflict")) throw new RetryableConflict();
    if (taskWrite?.code === "ConditionalCheckFailed") {
      const task = await getTask(entry.task_id);
      if (!task) throw new NotFoundError("task", entry.task_id);
      throw new ConflictError(
        superseded
          ? `Task ${entry.task_id}: the current outcome is ${task.latest_outcome_at ?? "none"}, not the superseded ${superseded.completion_timestamp}`
          : `Task ${entry.task_id} already has an outcome at ${task.latest_outcome_at}; record a superseding entry instead`,
        { latest_outcome_at: task.latest_outcome_at },
      );
    }
    if (awardCheck?.code === "ConditionalCheckFailed") {
      throw new ConflictError(`Task ${entry.task_id} is not awarded to ${entry.winning_agent_id}`);
    }
    if (profileWrites.some((item) => RETRYABLE_TRANSACTION_CODES.has(item.code)))
      throw new RetryableConflict();
    throw new Error(`Ledger transaction cancelled: ${outcomes.map((d) => d.code).join(",")}`);
  }

  return {
    async createTask(input: NewTask) {
      const timestamp = now().toISOString();
      const result = await service.transaction
        .write(({ task, bidWindow }) => [
          task.create({ ...input, status: "OPEN", created_at: timestamp, updated_at: timestamp }).commit(),
          ...(input.bid_deadline
            ? [bidWindow.create(windowItem(input.task_id, input.bid_deadline)).commit()]
            : []),
        ])
        .go();
      if (!result.canceled) {
        const task = await getTask(input.task_id);
        if (task) return { task, created: true };
      }
      const existing = await getTask(input.task_id);
      if (!existing)
        throw new Error(
          `Task ${input.task_id}: create cancelled (${result.data.map((d) => d.code).join(",")})`,
        );
      return { task: existing, created: false };
    },

    async openTasksDueBy(
      instant: string,
      page: PageRequest = {},
    ): Promise<Page<{ task_id: string; bid_deadline: string }>> {
      const cursor = checkCursor(page.cursor);
      const limit = Math.min(page.limit ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      // Sort keys are `<deadline>#<url>`: "< instant + 1 ms" includes a deadline equal to `instant`.
      const bound = new Date(Date.parse(instant) + 1).toISOString();
      const after = windowCursorPosition(cursor);
      // Nothing after a position past the bound is due (a cursor from a later instant).
      if (after !== undefined && byteOrder(after, bound) >= 0) return { items: [] };
      try {
        // A k-way merge: each shard's first `limit` due windows after the cursor, the `limit` earliest
        // of them overall. Every window left in every shard sorts after the last one returned, so that
        // window's sort key is the whole cursor, and no shard waits on another: the earliest deadline
        // comes first wherever it lives.
        const shards = await Promise.all(
          Array.from({ length: BID_WINDOW_SHARDS }, async (_, shard) => {
            const result = await bidWindow.query
              .byDeadline({ shard })
              .lt({ bid_deadline: bound })
              .go({ limit, ...(after !== undefined ? { cursor: windowStartKey(after, shard) } : {}) });
            return { windows: result.data, more: Boolean(result.cursor) };
          }),
        );
        const due = shards
          .flatMap(({ windows }) => windows.map(({ task_id, bid_deadline }) => ({ task_id, bid_deadline })))
          .sort((a, b) => byteOrder(windowSortKey(a), windowSortKey(b)));
        const items = due.slice(0, limit);
        const last = items.at(-1);
        const more = due.length > limit || shards.some((s) => s.more);
        return {
          items,
          ...(more && last
            ? { cursor: windowStartKey(windowSortKey(last), bidWindowShard(last.task_id)) }
            : {}),
        };
      } catch (error) {
        rethrowCursorError(error, cursor !== undefined);
      }
    },

    applyEvidence: (taskId, patch) =>
      withOptimisticRetry(`evidence for ${taskId}`, async () => {
        const task = await getTask(taskId);
        if (!task) return undefined;
        const { evidence, changed } = mergeEvidence(task.evidence ?? emptyEvidence(), patch);
        if (!changed) return task;
        const updatedAt = now().toISOString();
        try {
          await tasks
            .patch({ task_id: taskId })
            .set({ evidence, version: task.version + 1, updated_at: updatedAt })
            .where((attr, { eq }) => eq(attr.version, task.version))
            .go();
        } catch (error) {
          if (isConditionalCheckFailed(error)) throw new RetryableConflict();
          throw error;
        }
        return { ...task, evidence, version: task.version + 1, updated_at: updatedAt };
      }),

    async createAward(input: NewAward): Promise<Award> {
      const awardedAt = now().toISOString();
      const { bid_sent_at: bidSentAt, ...fields } = input;
      const award: Award = { type: "AWARD", ...fields, awarded_at: awardedAt };
      const result = await service.transaction
        .write(({ award: awards, task, bid, agentProfile, bidWindow: windows }) => [
          awards.create({ ...fields, awarded_at: awardedAt }).commit(),
          task
            .patch({ task_id: input.task_id })
            .set({
              status: input.status === "AWARDED" ? "AWARDED" : "PENDING_APPROVAL",
              updated_at: awardedAt,
            })
            .where((attr, { eq }) => eq(attr.status, "CLOSING"))
            .commit(),
          // The winner must still be eligible when the award commits, not only when it was ranked.
          agentProfile
            .check({ agent_id: input.agent_id })
            .where((attr, { eq }) => `${eq(attr.status, "active")} AND ${eq(attr.kill_switch_active, false)}`)
            .commit(),
          ...(bidSentAt === undefined
            ? []
            : [
                bid
                  .check({ task_id: input.task_id, agent_id: input.agent_id })
                  .where((attr, { eq }) => eq(attr.sent_at, bidSentAt))
                  .commit(),
              ]),
          // Decided (or held for a human): the task leaves the sweeper's index with the award.
          windows.delete({ task_id: input.task_id }).commit(),
        ])
        .go();
      if (!result.canceled) return award;
      const [awardWrite, taskWrite, profileCheck, bidCheck] = result.data as Array<{ code: string }>;
      if (awardWrite?.code === "ConditionalCheckFailed") {
        throw new ConflictError(`Task ${input.task_id} already has an award`);
      }
      if (taskWrite?.code === "ConditionalCheckFailed") {
        const task = await getTask(input.task_id);
        if (!task) throw new NotFoundError("task", input.task_id);
        throw new ConflictError(`Task ${input.task_id} is ${task.status}, not CLOSING`);
      }
      if (profileCheck?.code === "ConditionalCheckFailed") {
        throw new ConflictError(`BID_CHANGED: ${input.agent_id} is no longer eligible`, {
          reason: "BID_CHANGED",
        });
      }
      if (bidCheck?.code === "ConditionalCheckFailed") {
        throw new ConflictError(`BID_CHANGED: ${input.agent_id} revised its bid on ${input.task_id}`, {
          reason: "BID_CHANGED",
        });
      }
      throw new Error(`Award transaction cancelled: ${result.data.map((d) => d.code).join(",")}`);
    },

    async approvePendingAward(taskId: string, agentId: string) {
      const at = now().toISOString();
      const result = await service.transaction
        .write(({ award: awards, task, agentProfile: profiles }) => [
          awards
            .patch({ task_id: taskId })
            .set({ status: "AWARDED" })
            .where(
              (attr, { eq }) => `${eq(attr.status, "PENDING_APPROVAL")} AND ${eq(attr.agent_id, agentId)}`,
            )
            .commit(),
          task
            .patch({ task_id: taskId })
            .set({ status: "AWARDED", updated_at: at })
            .where((attr, { eq }) => eq(attr.status, "PENDING_APPROVAL"))
            .commit(),
          // Killed or suspended while the award waited: approving it must not hand it work.
          profiles
            .check({ agent_id: agentId })
            .where((attr, { eq }) => `${eq(attr.status, "active")} AND ${eq(attr.kill_switch_active, false)}`)
            .commit(),
        ])
        .go();
      if (!result.canceled) return "APPROVED" as const;
      if (
        result.data[2]?.code === "ConditionalCheckFailed" &&
        result.data[0]?.code !== "ConditionalCheckFailed"
      ) {
        throw new ConflictError(
          `Agent ${agentId} is suspended or kill-switched: reject this approval to re-award ${taskId}`,
          { reason: "AGENT_INELIGIBLE" },
        );
      }
      const { data: award } = await service.entities.award.get({ task_id: taskId }).go({ consistent: true });
      if (award?.status === "AWARDED" && award.agent_id === agentId) return "ALREADY" as const;
      if (!(await getTask(taskId))) throw new NotFoundError("task", taskId);
      throw new ConflictError(
        `Task ${taskId} has no award to ${agentId} awaiting approval (${award ? `${award.status} to ${award.agent_id}` : "no award"})`,
      );
    },

    async rejectPendingAward(taskId: string, agentId: string) {
      const at = now().toISOString();
      // Written once, at creation: the re-created window is due at once, so if the re-award that
      // follows fails, the sweeper makes it.
      const deadline = (await getTask(taskId))?.bid_deadline;
      const result = await service.transaction
        .write(({ award: awards, task, bidWindow: windows }) => [
          awards
            .delete({ task_id: taskId })
            .where(
              (attr, { eq }) => `${eq(attr.status, "PENDING_APPROVAL")} AND ${eq(attr.agent_id, agentId)}`,
            )
            .commit(),
          task
            .patch({ task_id: taskId })
            .set({ status: "CLOSING", updated_at: at })
            .add({ approval_excluded_agents: [agentId] })
            .where((attr, { eq }) => eq(attr.status, "PENDING_APPROVAL"))
            .commit(),
          // Back to CLOSING: back in the sweeper's index.
          ...(deadline ? [windows.put(windowItem(taskId, deadline)).commit()] : []),
        ])
        .go();
      if (!result.canceled) return "REJECTED" as const;
      const task = await getTask(taskId);
      if (!task) throw new NotFoundError("task", taskId);
      if (task.approval_excluded_agents?.includes(agentId)) return "ALREADY" as const;
      throw new ConflictError(
        `Task ${taskId} has no award to ${agentId} awaiting approval (task is ${task.status})`,
      );
    },

    async getTaskRecord(
      taskId: string,
      options: { consistent?: boolean; rejections?: number } = {},
    ): Promise<TaskRecord | undefined> {
      const consistent = options.consistent ?? false;
      const key = { task_id: taskId };
      const limit = options.rejections ?? DEFAULT_REJECTIONS;
      // One Query over the task's partition (task, bid window, bids, award, ledger). Rejection
      // records, which anyone allowed to send to the bids queue can add, live in a partition of
      // their own: read newest first and capped, and only when asked for.
      const [collection, rejections] = await Promise.all([
        service.collections.taskRecord(key).go({ pages: "all", consistent }),
        limit > 0
          ? service.entities.bidRejection.query.primary(key).go({ order: "desc", limit, consistent })
          : Promise.resolve({ data: [] }),
      ]);
      const { task, bid, award, ledgerEntry: ledger } = collection.data;
      const [taskItem] = task;
      if (!taskItem) return undefined;
      const [awardItem] = award;
      return {
        task: taskItem as Task,
        bids: bid as Bid[],
        ...(awardItem ? { award: awardItem as Award } : {}),
        ledger: ledger as LedgerEntry[],
        rejections: (rejections.data as BidRejection[]).reverse(),
      };
    },

    recordOutcome: (entry, options = {}) =>
      withOptimisticRetry(
        `record outcome for ${entry.task_id}`,
        () => attemptRecord(entry, options.supersedes),
        retry,
      ),

    async agentHistory(agentId: string, page: PageRequest = {}): Promise<Page<LedgerEntry>> {
      const cursor = checkCursor(page.cursor);
      const limit = Math.min(page.limit ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      try {
        const result = await ledgerEntry.query
          .byAgent({ winning_agent_id: agentId })
          .go({ order: "desc", limit, cursor });
        return {
          items: result.data as LedgerEntry[],
          ...(result.cursor ? { cursor: result.cursor } : {}),
        };
      } catch (error) {
        rethrowCursorError(error, cursor !== undefined);
      }
    },
  };
}
