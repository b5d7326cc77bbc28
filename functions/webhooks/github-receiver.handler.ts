import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { getReceiverDeps } from "./github-receiver.container.js";

/** `POST /webhooks/github` (HTTP API, payload format 2.0). */
export const handler = async (
  event: APIGatewayProxyEventV2,
  context: Context,
): Promise<APIGatewayProxyStructuredResultV2> => (await getReceiverDeps()).receive(event, context);

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getReceiverDeps;
