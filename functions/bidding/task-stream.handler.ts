import type { DynamoDBStreamHandler } from "aws-lambda";
import { getTaskStreamEnqueuer } from "../shared/container.js";

/** Table stream consumer (filtered to INSERTs of TASK items): enqueues each new task for dispatch. */
export const handler: DynamoDBStreamHandler = async (event, context) => {
  const enqueuer = await getTaskStreamEnqueuer();
  enqueuer.logger.addContext(context);
  await enqueuer.handle(event);
};
