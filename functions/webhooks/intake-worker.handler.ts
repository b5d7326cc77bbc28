import type { SQSHandler } from "aws-lambda";
import { getIntakeWorker } from "./intake-worker.container.js";

/** Intake queue consumer: one failed record fails only itself (ReportBatchItemFailures). */
export const handler: SQSHandler = async (event, context) => {
  const worker = await getIntakeWorker();
  worker.logger.addContext(context);
  return worker.handle(event, context);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getIntakeWorker;
