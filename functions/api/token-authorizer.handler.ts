import type { APIGatewayRequestAuthorizerEventV2, APIGatewaySimpleAuthorizerResult } from "aws-lambda";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import { loadConfig } from "../../src/config.js";
import { bearerMatches } from "../../src/http/auth.js";

/**
 * The HTTP API's Lambda authorizer for the REST routes (simple responses): the same constant-time
 * bearer check as the REST function, made at the gateway so unauthenticated calls never reach it.
 * The token is read from Secrets Manager once per container. If it cannot be read the authorizer
 * throws and the gateway answers 500; nothing is let through.
 */
const config = loadConfig();
const apiToken = createSecretResolver({ name: "API token", source: config.apiToken, region: config.region });

export const handler = async (
  event: APIGatewayRequestAuthorizerEventV2,
): Promise<APIGatewaySimpleAuthorizerResult> => ({
  isAuthorized: bearerMatches(event.headers?.authorization, await apiToken()),
});
