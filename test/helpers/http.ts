import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { createAuthenticator } from "../../src/domain/identity/authenticator.js";
import type { AgentRepository } from "../../src/ports/agent-repository.js";

/** The bearer token the REST API tests configure. */
export const TEST_API_TOKEN = "rest-api-test-token";

/** Named operators the in-process REST API tests may act as (`operator:alice`, `operator:bob`). */
export const TEST_OPERATOR_TOKENS = {
  alice: "alice-test-token-0123456789abcdef",
  bob: "bob-test-token-0123456789abcdefgh",
};

/** The Authorization header of a named test operator. */
export const asOperator = (name: keyof typeof TEST_OPERATOR_TOKENS) => ({
  authorization: `Bearer ${TEST_OPERATOR_TOKENS[name]}`,
});

/**
 * The authenticator the in-process REST API tests use: {@link TEST_API_TOKEN} is the default operator,
 * agents sign in with their API keys from the test table.
 */
export function testAuthenticator(agents: Pick<AgentRepository, "getApiKey">) {
  return createAuthenticator({
    operators: async () => [
      { name: "default", token: TEST_API_TOKEN },
      ...Object.entries(TEST_OPERATOR_TOKENS).map(([name, token]) => ({ name, token })),
    ],
    apiKeys: agents,
  });
}

/** An HTTP API (payload 2.0) GET event with the test bearer token (`null`: no Authorization header). */
export function apiGet(
  path: string,
  token: string | null = TEST_API_TOKEN,
  query?: Record<string, string>,
): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    ...(query ? { queryStringParameters: query } : {}),
    requestContext: { http: { method: "GET", path } },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

/** An HTTP API POST event with a JSON body (if given) and the test bearer token. */
export function apiPost(
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): APIGatewayProxyEventV2 {
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    rawQueryString: "",
    headers: { authorization: `Bearer ${TEST_API_TOKEN}`, "content-type": "application/json", ...headers },
    requestContext: { http: { method: "POST", path } },
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

/** The parsed JSON body of a response. */
export const bodyOf = (response: { body?: string }) => JSON.parse(response.body ?? "null");
