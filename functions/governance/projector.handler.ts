import type { DynamoDBStreamHandler } from "aws-lambda";
import { getProjector } from "./projector.container.js";

/** Table stream consumer: applies governance events to Postgres in order, exactly once each. */
export const handler: DynamoDBStreamHandler = async (event, context) => {
  const projector = await getProjector();
  projector.logger.addContext(context);
  return projector.handle(event);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getProjector;
