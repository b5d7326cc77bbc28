import type { ScheduledHandler } from "aws-lambda";
import { getHealthProber } from "./health-prober.container.js";

/** Scheduled: probes every eligible agent's endpoint, records health metrics and updates trust. */
export const handler: ScheduledHandler = async (_event, context) => {
  const jobs = await getHealthProber();
  jobs.logger.addContext(context);
  // Leave 10 s to record the probes in flight; the rest are probed next run.
  const summary = await jobs.probeHealth(() => context.getRemainingTimeInMillis() > 10_000);
  jobs.logger.info("Health probes done", { ...summary });
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getHealthProber;
