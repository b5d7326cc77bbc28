import type { AwardDueQueue, AwardTrigger } from "../../ports/award-trigger.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import type { Task } from "../tasks/task.types.js";

/**
 * Bids sent before the deadline may still be in the bids queue when it passes; the award waits this
 * long after the deadline so that they are judged (by their send time) before bidding closes.
 */
export const DEADLINE_GRACE_MS = 30_000;

/** The deadline and its grace are over at `at`. */
export function deadlinePassed(task: Pick<Task, "bid_deadline">, at: Date): boolean {
  return task.bid_deadline !== undefined && Date.parse(task.bid_deadline) + DEADLINE_GRACE_MS <= at.getTime();
}

/**
 * Every invited agent answered or cannot be reached, from the task's own counters: `invited_count`
 * moves with each bid item created, `answered_count` with each first answer and `unreachable_count`
 * with each bid request that finally failed to deliver, in the same transactions as the bid items
 * they count, so this is O(1) however many agents bid. An invitation counts once: in one of the two,
 * never both (a revised bid is not counted again). A task without counters (written before they
 * existed) is awarded at its deadline.
 */
export function allAnswered(
  task: Pick<Task, "invited_count" | "answered_count" | "unreachable_count">,
): boolean {
  const invited = task.invited_count ?? 0;
  return invited > 0 && (task.answered_count ?? 0) + (task.unreachable_count ?? 0) >= invited;
}

/** Whether an award run has work to do on `task` now: it is CLOSING, or OPEN and due. */
export function awardDue(task: Task, at: Date): boolean {
  if (task.status === "CLOSING") return true;
  return task.status === "OPEN" && (deadlinePassed(task, at) || allAnswered(task));
}

export interface QueuedAwardTriggerOptions {
  bidding: Pick<BiddingRepository, "getBiddingState">;
  queue: AwardDueQueue;
  now?: () => Date;
}

/**
 * The deployed {@link AwardTrigger}: one consistent read of the task item's counters, and an
 * "award due" message when the task is due. No notice and no award transaction run inside the bid
 * or delivery worker: the award worker does that, once per task (the queue deduplicates).
 */
export function createQueuedAwardTrigger({
  bidding,
  queue,
  now = () => new Date(),
}: QueuedAwardTriggerOptions): AwardTrigger {
  return {
    async awardIfDue(taskId) {
      const state = await bidding.getBiddingState(taskId);
      if (state && awardDue(state.task, now())) await queue.awardDue([taskId]);
    },
  };
}
