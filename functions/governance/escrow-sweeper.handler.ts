import type { ScheduledHandler } from "aws-lambda";
import { getGovernanceJobs } from "../shared/container.js";

/** Scheduled: refunds escrows pending past their timeout (`resolved_by` timeout). */
export const handler: ScheduledHandler = async (_event, context) => {
  const jobs = await getGovernanceJobs();
  jobs.logger.addContext(context);
  const summary = await jobs.refundExpiredEscrows();
  jobs.logger.info("Escrow sweep done", { ...summary });
};
