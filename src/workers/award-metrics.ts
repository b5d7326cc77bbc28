/** Award metrics, the same names whether the sweeper or the award worker made the award. */
export const SWEEPER_METRICS = {
  awarded: "AwardsMade",
  pendingApproval: "AwardsPendingApproval",
  noBids: "TasksClosedWithoutBids",
  failed: "AwardFailures",
  /** Seconds between the schedule's intended time and this run (scheduler or cold-start lag). */
  lag: "AwardSweepLag",
} as const;
