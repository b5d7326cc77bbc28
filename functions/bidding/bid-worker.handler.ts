import type { SQSHandler } from "aws-lambda";
import { getBidWorker } from "./bid-worker.container.js";

/** Bids queue consumer: one failed record fails only itself (ReportBatchItemFailures). */
export const handler: SQSHandler = async (event, context) => {
  const worker = await getBidWorker();
  worker.logger.addContext(context);
  return worker.handle(event, context);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getBidWorker;
