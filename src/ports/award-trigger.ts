/** Lets the bid worker ask for an early award without depending on the award service itself. */
export interface AwardTrigger {
  /**
   * Awards the task now if its bid deadline has passed or every invited agent has answered; does
   * nothing otherwise, or when the task is no longer OPEN. Safe to call any number of times.
   */
  awardIfDue(taskId: string): Promise<void>;
}
