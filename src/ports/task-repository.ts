import type { LedgerEntry, LedgerEntryInput } from "../domain/ledger/ledger.schema.js";
import type { EvidencePatch } from "../domain/tasks/evidence.js";
import type { NewTask } from "../domain/tasks/task.schema.js";
import type { Award, NewAward, Task, TaskRecord } from "../domain/tasks/task.types.js";
import type { Page, PageRequest } from "./pagination.js";

export type RecordOutcomeResult =
  | { recorded: true; entry: LedgerEntry }
  | { recorded: false; reason: "duplicate"; entry: LedgerEntry };

/** Persistence for tasks, their bids and award, and the immutable outcome ledger. */
export interface TaskRepository {
  /** Creates the task once per issue URL; a second call returns the stored task and `created: false`. */
  createTask(task: NewTask): Promise<{ task: Task; created: boolean }>;

  /**
   * Tasks with a bid window (OPEN or CLOSING) whose deadline is at or before `instant` (ISO), earliest
   * first across every shard of the index. The cursor is opaque: pass it back with the same `instant`.
   */
  openTasksDueBy(
    instant: string,
    page?: PageRequest,
  ): Promise<Page<{ task_id: string; bid_deadline: string }>>;

  /**
   * Merges GitHub evidence into the task (a key-wise union, so re-applying is harmless).
   * Returns `undefined` when no such task exists.
   */
  applyEvidence(taskId: string, patch: EvidencePatch): Promise<Task | undefined>;

  /**
   * Writes the task's one award and moves the task from CLOSING to AWARDED or PENDING_APPROVAL, in
   * one transaction that also checks the winner is still active and not kill-switched and deletes the
   * task's bid window (the sweeper no longer visits it). Throws ConflictError if the task already has
   * an award or is no longer CLOSING.
   */
  createAward(award: NewAward): Promise<Award>;

  /**
   * A reviewer approved the PENDING_APPROVAL award of `agentId`: award and task become AWARDED in one
   * transaction. Returns "ALREADY" when it was approved before (idempotent); throws ConflictError
   * when the task's award is not this agent's pending one, NotFoundError for an unknown task.
   */
  approvePendingAward(taskId: string, agentId: string): Promise<"APPROVED" | "ALREADY">;

  /**
   * A reviewer rejected the PENDING_APPROVAL award of `agentId`: the award is deleted, the agent is
   * excluded from this task, and the task goes back to CLOSING (bidding stays closed) with its bid
   * window re-created (due at once), so the award service, or failing that the sweeper, ranks the
   * remaining bids. Returns "ALREADY" when it was rejected before; throws
   * ConflictError when the task's award is not this agent's pending one.
   */
  rejectPendingAward(taskId: string, agentId: string): Promise<"REJECTED" | "ALREADY">;

  /**
   * The task with its bids, award, ledger and its newest `rejections` (default 100, oldest first),
   * all under `TASK#<url>`; `consistent` for read-modify-write callers that must see their own writes.
   */
  getTaskRecord(
    taskId: string,
    options?: { consistent?: boolean; rejections?: number },
  ): Promise<TaskRecord | undefined>;

  /**
   * Appends a ledger entry and folds it into the winner's performance history in one transaction.
   * Recording the same entry (task and timestamp) again changes nothing and reports a duplicate.
   * With `supersedes` (the `completion_timestamp` of the task's current entry), that entry's
   * contribution, read from the ledger, is taken back in the same transaction. The transaction also
   * checks that the task is AWARDED to `winning_agent_id`.
   * Throws ConflictError when the task's current outcome is not the one `supersedes` names, when a
   * different entry already holds this timestamp, or when the winner is not the task's awardee.
   */
  recordOutcome(entry: LedgerEntryInput, options?: { supersedes?: string }): Promise<RecordOutcomeResult>;

  /** An agent's ledger entries, newest first. */
  agentHistory(agentId: string, page?: PageRequest): Promise<Page<LedgerEntry>>;
}
