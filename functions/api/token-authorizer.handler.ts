import type {
  APIGatewayRequestAuthorizerEventV2,
  APIGatewaySimpleAuthorizerWithContextResult,
} from "aws-lambda";
import { loadConfig } from "../../src/config.js";
import { actorOf, PRINCIPAL_CONTEXT_KEY } from "../../src/domain/identity/principal.js";
import { buildAuthenticator } from "../shared/authentication.js";

/**
 * The HTTP API's Lambda authorizer for the REST routes (simple responses): resolves the bearer token
 * to a principal (an operator token, or an agent API key by its key id) and passes it to the REST
 * function as `principal` (`operator:<name>` / `agent:<id>`). The gateway caches the answer per
 * Authorization header for at most 30 s. If credentials cannot be read the authorizer throws and the
 * gateway answers 500; nothing is let through.
 */
const { authenticate, logger } = buildAuthenticator(loadConfig());
logger.appendPersistentKeys({ function: "api-authorizer" });

export const handler = async (
  event: APIGatewayRequestAuthorizerEventV2,
): Promise<APIGatewaySimpleAuthorizerWithContextResult<Record<string, string>>> => {
  const result = await authenticate(event.headers?.authorization);
  if (!result.ok) {
    // Why, never what: the token is not logged.
    logger.info("Credential refused", {
      reason: result.reason,
      route: event.routeKey,
      source_ip: event.requestContext?.http?.sourceIp,
    });
    return { isAuthorized: false, context: {} };
  }
  return { isAuthorized: true, context: { [PRINCIPAL_CONTEXT_KEY]: actorOf(result.principal) } };
};

/** The authenticator is built when the module loads (no network call); for the cold-start bench. */
export const init = async () => ({ authenticate });
