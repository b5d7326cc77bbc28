import { describe, expect, it } from "vitest";
import { verifyWebhookSignature } from "../../src/adapters/github/signature.js";
import {
  apiErrorOf,
  apiPath,
  apiUrl,
  createApiClient,
  jsonBody,
  unreachableMessage,
} from "../../src/cli/api-client.js";
import { ApiError, CliError, UsageError } from "../../src/cli/errors.js";
import { capabilityList, registrationBody } from "../../src/cli/registration.js";
import { fixedCredentials } from "../../src/cli/target.js";
import { webhookHeaders } from "../../src/cli/webhook-delivery.js";

const TASK_URL = "https://github.com/octo/repo/issues/7";

describe("request URLs", () => {
  it("percent-encodes each path segment, so a task id (an issue URL) is one segment", () => {
    expect(apiPath("tasks", TASK_URL, "ledger")).toBe(
      "/tasks/https%3A%2F%2Fgithub.com%2Focto%2Frepo%2Fissues%2F7/ledger",
    );
    expect(apiPath("agents", "a b#c")).toBe("/agents/a%20b%23c");
  });

  it("joins a base URL with or without a trailing slash and keeps only the query values given", () => {
    expect(
      apiUrl("https://x.execute-api.eu-west-1.amazonaws.com/", "/agents", {
        capability: "c++",
        limit: undefined,
      }),
    ).toBe("https://x.execute-api.eu-west-1.amazonaws.com/agents?capability=c%2B%2B");
    expect(apiUrl("http://127.0.0.1:3000", "/audit/verify")).toBe("http://127.0.0.1:3000/audit/verify");
    expect(apiUrl("https://api.example.com/prod/", "/agents/A1")).toBe(
      "https://api.example.com/prod/agents/A1",
    );
  });
});

describe("apiErrorOf", () => {
  it("takes code and message from the API's error body", () => {
    const error = apiErrorOf(
      404,
      JSON.stringify({ error: { code: "NOT_FOUND", message: "agent A9 not found" } }),
    );

    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toBe("404 NOT_FOUND: agent A9 not found");
  });

  it("falls back to API Gateway's own message, then to the body's first line or the status text", () => {
    expect(apiErrorOf(403, '{"message":"Forbidden"}').message).toBe("403 FORBIDDEN: Forbidden");
    expect(apiErrorOf(502, "upstream failed\nmore").message).toBe("502 BAD_GATEWAY: upstream failed");
    expect(apiErrorOf(503, "").message).toBe("503 SERVICE_UNAVAILABLE: Service Unavailable");
  });

  it("says which credentials were refused on a 401 or the gateway's bare 403, not on the API's FORBIDDEN", () => {
    const hint = "the operator token from X was refused";
    const forbidden = JSON.stringify({
      error: {
        code: "FORBIDDEN",
        message: "agent:a1 lacks permission agents:kill: agents:kill is for operators only",
      },
    });

    expect(apiErrorOf(401, '{"error":{"code":"UNAUTHORIZED","message":"no"}}', hint).message).toBe(
      `401 UNAUTHORIZED: no (${hint})`,
    );
    expect(apiErrorOf(403, '{"message":"Forbidden"}', hint).message).toBe(
      `403 FORBIDDEN: Forbidden (${hint})`,
    );
    expect(apiErrorOf(403, forbidden, hint).message).toBe(
      "403 FORBIDDEN: agent:a1 lacks permission agents:kill: agents:kill is for operators only",
    );
    expect(apiErrorOf(404, '{"message":"Not Found"}', hint).message).toBe("404 NOT_FOUND: Not Found");
  });
});

describe("unreachableMessage", () => {
  const refused = Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });

  it("tells the user to start the local stack when nothing listens on its port", () => {
    expect(unreachableMessage({ apiUrl: "http://127.0.0.1:3000", local: true }, refused, 30_000)).toBe(
      "no local stack answers at http://127.0.0.1:3000: start it with `npm start`",
    );
  });

  it("names the network error for any other target, and a timeout as such", () => {
    expect(unreachableMessage({ apiUrl: "https://api.example.com", local: false }, refused, 30_000)).toBe(
      "cannot reach https://api.example.com: ECONNREFUSED",
    );
    const timeout = new DOMException("The operation was aborted due to timeout", "TimeoutError");
    expect(unreachableMessage({ apiUrl: "https://api.example.com", local: false }, timeout, 30_000)).toBe(
      "no answer from https://api.example.com within 30 s",
    );
  });
});

describe("createApiClient", () => {
  const target = {
    apiUrl: "https://api.example.com/",
    local: false,
    credentials: fixedCredentials("operator", "t0ken", "AGENTFORGE_API_TOKEN"),
  };

  it("sends the bearer token and returns status and JSON body", async () => {
    const seen: Array<{ url: string; init: RequestInit | undefined }> = [];
    const client = createApiClient({
      target,
      fetch: async (url, init) => {
        seen.push({ url: String(url), init });
        return new Response('{"agent":{"agent_id":"A1"}}', { status: 201 });
      },
    });

    const answer = await client.post("/agents", jsonBody({ agent_id: "A1" }));

    expect(answer).toEqual({ status: 201, body: { agent: { agent_id: "A1" } } });
    expect(seen[0]?.url).toBe("https://api.example.com/agents");
    expect(seen[0]?.init?.headers).toMatchObject({
      authorization: "Bearer t0ken",
      "content-type": "application/json",
    });
    expect(seen[0]?.init?.body).toBe('{"agent_id":"A1"}');
  });

  it("posts a webhook delivery without the token", async () => {
    let headers: unknown;
    let url = "";
    const client = createApiClient({
      target,
      fetch: async (to, init) => {
        url = String(to);
        headers = init?.headers;
        return new Response('{"accepted":true}', { status: 202 });
      },
    });

    await client.webhook({ body: "{}" });

    expect(url).toBe("https://api.example.com/webhooks/github");
    expect(headers).not.toHaveProperty("authorization");
  });

  it("throws an ApiError for an error status and a CliError when there is no answer", async () => {
    const denied = createApiClient({
      target,
      fetch: async () => new Response('{"error":{"code":"UNAUTHORIZED","message":"no"}}', { status: 401 }),
    });
    const down = createApiClient({
      target,
      fetch: async () => {
        throw Object.assign(new TypeError("fetch failed"), { cause: { code: "ENOTFOUND" } });
      },
    });

    await expect(denied.get("/audit/verify")).rejects.toThrow(ApiError);
    await expect(denied.get("/audit/verify")).rejects.toThrow(
      "401 UNAUTHORIZED: no (the operator token from AGENTFORGE_API_TOKEN was refused)",
    );
    await expect(down.get("/audit/verify")).rejects.toThrow(
      new CliError("cannot reach https://api.example.com/: ENOTFOUND"),
    );
  });

  it("sends an agent's key as the bearer and names it when the gateway refuses it", async () => {
    let authorization: string | undefined;
    const refused = createApiClient({
      target: { ...target, credentials: fixedCredentials("agent", "afk_key", "AGENTFORGE_AGENT_KEY") },
      fetch: async (_url, init) => {
        authorization = (init?.headers as Record<string, string> | undefined)?.authorization;
        return new Response('{"message":"Forbidden"}', { status: 403 });
      },
    });

    await expect(refused.get("/agents/A1")).rejects.toThrow(
      "403 FORBIDDEN: Forbidden (the agent key from AGENTFORGE_AGENT_KEY was refused: unknown, or rotated out and past its overlap)",
    );
    expect(authorization).toBe("Bearer afk_key");
  });
});

describe("registrationBody", () => {
  it("overrides the file's fields with the flags given", () => {
    const file = { agent_id: "A1", capabilities: ["go"], cost_model: "green", bidding_endpoint: "https://a" };

    expect(
      registrationBody(file, { capabilities: ["python", "rust"], cost_model: "orange", status: undefined }),
    ).toEqual({ ...file, capabilities: ["python", "rust"], cost_model: "orange" });
  });

  it("refuses a file that is not one JSON object, and a registration with nothing in it", () => {
    expect(() => registrationBody([1, 2], {})).toThrow(CliError);
    expect(() => registrationBody(undefined, { agent_id: undefined })).toThrow(UsageError);
  });

  it("reads capabilities from repeated and comma-separated values", () => {
    expect(capabilityList(["python", "go, rust", ""])).toEqual(["python", "go", "rust"]);
    expect(capabilityList([])).toBeUndefined();
  });
});

describe("webhookHeaders", () => {
  const body = Buffer.from('{"action":"opened"}');

  it("carries what the receiver checks, with a signature over the exact bytes", () => {
    const headers = webhookHeaders("s3cret", body, "issues", "72d3162e-cc78-11e3-81ab-4c9367dc0958");

    expect(headers).toMatchObject({
      "content-type": "application/json",
      "x-github-event": "issues",
      "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    });
    expect(verifyWebhookSignature("s3cret", body, headers["x-hub-signature-256"])).toBe(true);
  });

  it("refuses an event or delivery id the receiver would refuse", () => {
    expect(() => webhookHeaders("s", body, "Issues Opened", "d1")).toThrow(UsageError);
    expect(() => webhookHeaders("s", body, "issues", "-bad id")).toThrow(UsageError);
  });
});
