import type { APIGatewayProxyHandlerV2 } from "aws-lambda";
import { getRestApi } from "../shared/container.js";

/** Bearer-token read API: tasks, ledgers and agents. */
export const handler: APIGatewayProxyHandlerV2 = async (event, context) => {
  const api = await getRestApi();
  api.logger.addContext(context);
  return api.handle(event);
};
