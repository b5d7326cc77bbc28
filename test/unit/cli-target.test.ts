import { describe, expect, it } from "vitest";
import { CliError } from "../../src/cli/errors.js";
import { apiUrlFromStackOutputs, regionOfApiUrl, resolveTarget } from "../../src/cli/target.js";

const SERVICE_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com/";

/** What `cdk deploy --all --outputs-file` writes for the two AgentForge stacks. */
const OUTPUTS = {
  "AgentForge-Data": {
    TableName: "AgentForge-Marketplace",
    BidsQueueUrl: "https://sqs.eu-west-1.amazonaws.com/1/b",
  },
  "AgentForge-Service": {
    ApiUrl: SERVICE_URL,
    GitHubWebhookUrl: `${SERVICE_URL}webhooks/github`,
    TableName: "AgentForge-Marketplace",
  },
};

describe("apiUrlFromStackOutputs", () => {
  it("takes the ApiUrl of the one stack that has it", () => {
    expect(apiUrlFromStackOutputs(OUTPUTS)).toBe(SERVICE_URL);
  });

  it("takes the named stack's ApiUrl", () => {
    const staging = { ...OUTPUTS, "AgentForge-Staging": { ApiUrl: "https://staging.example/" } };

    expect(apiUrlFromStackOutputs(staging, "AgentForge-Staging")).toBe("https://staging.example/");
  });

  it.each([
    [["not", "outputs"], undefined, "must be the JSON written by `cdk deploy --outputs-file`"],
    [
      { "AgentForge-Data": OUTPUTS["AgentForge-Data"] },
      undefined,
      "no stack in the stack outputs file has an ApiUrl",
    ],
    [
      { ...OUTPUTS, Other: { ApiUrl: "https://other.example/" } },
      undefined,
      "several stacks have an ApiUrl output (AgentForge-Service, Other): choose one with --stack <name>",
    ],
    [
      OUTPUTS,
      "Missing",
      "stack Missing is not in the stack outputs file; it has AgentForge-Data, AgentForge-Service",
    ],
    [OUTPUTS, "AgentForge-Data", "stack AgentForge-Data has no ApiUrl output"],
  ])("explains what is wrong with %j (stack %s)", (outputs, stack, message) => {
    expect(() => apiUrlFromStackOutputs(outputs, stack)).toThrow(CliError);
    expect(() => apiUrlFromStackOutputs(outputs, stack)).toThrow(message);
  });
});

describe("regionOfApiUrl", () => {
  it("reads the region of an API Gateway URL, where the stack's secrets are", () => {
    expect(regionOfApiUrl(SERVICE_URL)).toBe("eu-west-1");
    expect(regionOfApiUrl("https://api.example.com/")).toBeUndefined();
    expect(regionOfApiUrl("http://127.0.0.1:3000")).toBeUndefined();
  });
});

describe("resolveTarget", () => {
  it("uses --api-url and the token from the environment without reading any file", async () => {
    const target = resolveTarget(
      { json: false, apiUrl: "https://api.example.com", dataDir: "/nonexistent" },
      { AGENTFORGE_API_TOKEN: "from-env", GITHUB_WEBHOOK_SECRET: "hook" },
    );

    expect(target.apiUrl).toBe("https://api.example.com");
    expect(target.local).toBe(false);
    expect(target.credentials).toMatchObject({ kind: "operator", from: "AGENTFORGE_API_TOKEN" });
    await expect(target.credentials.token()).resolves.toBe("from-env");
    await expect(target.webhookSecret()).resolves.toBe("hook");
  });

  const globals = { json: false, apiUrl: "https://api.example.com", dataDir: "/nonexistent" };

  it("prefers a named operator's AGENTFORGE_OPERATOR_TOKEN to AGENTFORGE_API_TOKEN", async () => {
    const { credentials } = resolveTarget(globals, {
      AGENTFORGE_OPERATOR_TOKEN: "alice-token",
      AGENTFORGE_API_TOKEN: "default-token",
    });

    expect(credentials).toMatchObject({ kind: "operator", from: "AGENTFORGE_OPERATOR_TOKEN" });
    await expect(credentials.token()).resolves.toBe("alice-token");
  });

  it("sends AGENTFORGE_AGENT_KEY instead of any operator token when it is set", async () => {
    const key = `afk_${"0a".repeat(10)}_${"k".repeat(43)}`;
    const { credentials } = resolveTarget(globals, {
      AGENTFORGE_AGENT_KEY: key,
      AGENTFORGE_OPERATOR_TOKEN: "alice-token",
      AGENTFORGE_API_TOKEN: "default-token",
    });

    expect(credentials).toMatchObject({ kind: "agent", from: "AGENTFORGE_AGENT_KEY" });
    await expect(credentials.token()).resolves.toBe(key);
  });

  it("refuses an AGENTFORGE_AGENT_KEY that is not an agent key, when a request needs it", async () => {
    const target = resolveTarget(globals, {
      AGENTFORGE_AGENT_KEY: "operator-token",
      GITHUB_WEBHOOK_SECRET: "h",
    });

    await expect(target.credentials.token()).rejects.toThrow(CliError);
    await expect(target.credentials.token()).rejects.toThrow(
      "AGENTFORGE_AGENT_KEY is not an agent API key (afk_<20 hex>_<43 base64url>",
    );
    await expect(target.webhookSecret()).resolves.toBe("h");
  });

  it("reads the operator token from the local stack's secrets.json when no variable is set", () => {
    const { credentials } = resolveTarget(globals, {});

    expect(credentials).toEqual({
      kind: "operator",
      from: "/nonexistent/secrets.json (api_token)",
      token: expect.any(Function),
    });
  });

  it("refuses an API URL that is not http(s)", () => {
    expect(() => resolveTarget({ json: false, apiUrl: "ftp://x" }, {})).toThrow(
      "the API URL must be an http(s) URL, not 'ftp://x'",
    );
  });
});
