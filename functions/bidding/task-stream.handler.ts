import type { DynamoDBStreamHandler } from "aws-lambda";
import { getTaskStreamEnqueuer } from "./task-stream.container.js";

/** Table stream consumer (filtered to INSERTs of TASK items): enqueues each new task for dispatch. */
export const handler: DynamoDBStreamHandler = async (event, context) => {
  const enqueuer = await getTaskStreamEnqueuer();
  enqueuer.logger.addContext(context);
  await enqueuer.handle(event);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getTaskStreamEnqueuer;
