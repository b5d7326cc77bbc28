import type { ScheduledHandler } from "aws-lambda";
import { getGovernanceJobs } from "../shared/container.js";

/** Scheduled: probes every eligible agent's endpoint, records health metrics and updates trust. */
export const handler: ScheduledHandler = async (_event, context) => {
  const jobs = await getGovernanceJobs();
  jobs.logger.addContext(context);
  // Leave 10 s to record the probes in flight; the rest are probed next run.
  const summary = await jobs.probeHealth(() => context.getRemainingTimeInMillis() > 10_000);
  jobs.logger.info("Health probes done", { ...summary });
};
