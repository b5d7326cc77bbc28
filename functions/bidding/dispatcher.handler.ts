import type { DynamoDBStreamHandler } from "aws-lambda";
import { getDispatcher } from "../shared/container.js";

/** Table stream consumer: each new TASK item gets its bid requests; failed records are reported alone. */
export const handler: DynamoDBStreamHandler = async (event, context) => {
  const dispatcher = await getDispatcher();
  dispatcher.logger.addContext(context);
  return dispatcher.handle(event, context);
};
