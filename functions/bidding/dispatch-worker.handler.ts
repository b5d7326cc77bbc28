import type { SQSHandler } from "aws-lambda";
import { getDispatchWorker } from "./dispatch-worker.container.js";

/** Dispatch queue consumer: sends a task's bid requests; a failed record fails only itself. */
export const handler: SQSHandler = async (event, context) => {
  const worker = await getDispatchWorker();
  worker.logger.addContext(context);
  return worker.handle(event, context);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getDispatchWorker;
