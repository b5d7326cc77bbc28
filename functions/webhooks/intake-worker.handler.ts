import type { SQSHandler } from "aws-lambda";
import { getIntakeWorker } from "../shared/container.js";

/** Intake queue consumer: one failed record fails only itself (ReportBatchItemFailures). */
export const handler: SQSHandler = async (event, context) => {
  const worker = await getIntakeWorker();
  worker.logger.addContext(context);
  return worker.handle(event, context);
};
