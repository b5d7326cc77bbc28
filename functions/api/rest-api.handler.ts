import type { APIGatewayProxyHandlerV2 } from "aws-lambda";
import { getRestApi } from "./rest-api.container.js";

/** Bearer-token read API: tasks, ledgers and agents. */
export const handler: APIGatewayProxyHandlerV2 = async (event, context) => {
  const api = await getRestApi();
  api.logger.addContext(context);
  return api.handle(event);
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getRestApi;
