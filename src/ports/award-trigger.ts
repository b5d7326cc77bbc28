/** Lets the bid and delivery workers ask for an early award without depending on the award service itself. */
export interface AwardTrigger {
  /**
   * Has the task awarded if its bid deadline has passed or every invited agent has answered (or
   * cannot be reached); does nothing otherwise, or when the task is no longer OPEN. Safe to call any
   * number of times. Deployed, this only enqueues an "award due" message (see {@link AwardDueQueue});
   * the award worker makes the award.
   */
  awardIfDue(taskId: string): Promise<void>;
}

/** Where "award due" messages go: the award worker takes them, one per task at a time. */
export interface AwardDueQueue {
  awardDue(taskIds: readonly string[]): Promise<void>;
}
