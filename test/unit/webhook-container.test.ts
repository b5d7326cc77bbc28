import { describe, expect, it } from "vitest";
import { buildReceiverDeps } from "../../functions/shared/container.js";
import { loadConfig } from "../../src/config.js";

const local = {
  AGENTFORGE_LOCAL: "true",
  SQS_ENDPOINT: "http://127.0.0.1:9",
  INTAKE_QUEUE_URL: "http://127.0.0.1:9/123456789012/intake",
  GITHUB_WEBHOOK_SECRET: "local-secret",
};

describe("webhook receiver composition root", () => {
  it("builds from a complete local configuration", () => {
    expect(typeof buildReceiverDeps(loadConfig(local)).receive).toBe("function");
  });

  it.each([
    ["no intake queue", { ...local, INTAKE_QUEUE_URL: "" }, /INTAKE_QUEUE_URL is not configured/],
    ["no webhook secret", { ...local, GITHUB_WEBHOOK_SECRET: "" }, /GITHUB_WEBHOOK_SECRET/],
    [
      "a non-loopback SQS endpoint in local mode",
      { ...local, SQS_ENDPOINT: "https://sqs.us-east-1.amazonaws.com" },
      /Refusing non-local SQS endpoint/,
    ],
  ])("fails the cold start with %s", (_, env, message) => {
    expect(() => buildReceiverDeps(loadConfig(env))).toThrow(message);
  });
});
