import type { Context } from "aws-lambda";
import type { SweepSummary } from "../../src/domain/bidding/award.service.js";
import { getAwardSweeper } from "./award-sweeper.container.js";

/** Invoked every minute by EventBridge Scheduler: awards every open task past its bid deadline. */
export const handler = async (event: unknown, context: Context): Promise<SweepSummary> => {
  const sweeper = await getAwardSweeper();
  sweeper.logger.addContext(context);
  return sweeper.sweep(event, context);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getAwardSweeper;
