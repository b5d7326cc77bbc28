import type { ScheduledHandler } from "aws-lambda";
import { getEscrowSweeper } from "./escrow-sweeper.container.js";

/** Scheduled: refunds escrows pending past their timeout (`resolved_by` timeout). */
export const handler: ScheduledHandler = async (_event, context) => {
  const jobs = await getEscrowSweeper();
  jobs.logger.addContext(context);
  const summary = await jobs.refundExpiredEscrows();
  jobs.logger.info("Escrow sweep done", { ...summary });
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getEscrowSweeper;
