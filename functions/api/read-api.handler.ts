import type { APIGatewayProxyHandlerV2 } from "aws-lambda";
import { getReadApi } from "../shared/container.js";

/** Bearer-token read API: tasks, ledgers and agents. */
export const handler: APIGatewayProxyHandlerV2 = async (event, context) => {
  const api = await getReadApi();
  api.logger.addContext(context);
  return api.handle(event);
};
