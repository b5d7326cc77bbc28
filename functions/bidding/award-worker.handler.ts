import type { SQSHandler } from "aws-lambda";
import { getAwardWorker } from "./award-worker.container.js";

/** Award queue consumer: awards a task once every invited agent answered or is unreachable. */
export const handler: SQSHandler = async (event, context) => {
  const worker = await getAwardWorker();
  worker.logger.addContext(context);
  return worker.handle(event, context);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getAwardWorker;
