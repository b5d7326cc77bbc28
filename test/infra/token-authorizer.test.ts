import type { APIGatewayRequestAuthorizerEventV2 } from "aws-lambda";
import { afterAll, describe, expect, it, vi } from "vitest";

const TOKEN = "s3cr3t-token-for-tests-only";

/** The request an HTTP API hands a REQUEST authorizer (payload 2.0); headers arrive lower-cased. */
function request(authorization?: string): APIGatewayRequestAuthorizerEventV2 {
  return {
    version: "2.0",
    type: "REQUEST",
    routeArn: "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/agents",
    identitySource: authorization ? [authorization] : [],
    routeKey: "ANY /agents",
    rawPath: "/agents",
    rawQueryString: "",
    headers: authorization ? { authorization } : {},
    requestContext: {} as APIGatewayRequestAuthorizerEventV2["requestContext"],
  } as APIGatewayRequestAuthorizerEventV2;
}

describe("HTTP API token authorizer (operator tokens; agent keys are covered by the matrix test)", () => {
  afterAll(() => {
    vi.unstubAllEnvs();
  });

  async function authorizer() {
    // The module reads its configuration at load, as on a cold start.
    vi.stubEnv("AGENTFORGE_API_TOKEN", TOKEN);
    vi.resetModules();
    return (await import("../../functions/api/token-authorizer.handler.js")).handler;
  }

  it("authorizes the configured bearer token", async () => {
    const handler = await authorizer();

    expect(await handler(request(`Bearer ${TOKEN}`))).toEqual({
      isAuthorized: true,
      context: { principal: "operator:default" },
    });
  });

  it("refuses a wrong token, another scheme, and no header", async () => {
    const handler = await authorizer();

    for (const header of [`Bearer ${TOKEN}x`, `Basic ${TOKEN}`, undefined]) {
      expect(await handler(request(header)), String(header)).toEqual({ isAuthorized: false, context: {} });
    }
  });
});
