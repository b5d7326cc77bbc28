import { describe, expect, it } from "vitest";
import { createDynamoClient, isLoopbackEndpoint } from "../../src/adapters/dynamo/client.js";

describe("tests can only reach local endpoints", () => {
  it.each([
    ["http://127.0.0.1:8000", true],
    ["http://localhost:8000", true],
    ["http://[::1]:8000", true],
    ["http://127.0.0.2:8000", true],
    ["https://dynamodb.us-east-1.amazonaws.com", false],
    ["http://10.0.0.5:8000", false],
    ["http://localhost.evil.example:8000", false],
    ["http://127.attacker.example:8000", false],
    ["http://127.0.0.1.attacker.example:8000", false],
    ["http://127.0.0.1.nip.io:8000", false],
    ["https://127.1:8000", true],
    ["http://[0:0:0:0:0:0:0:1]:8000", true],
    ["http://[::2]:8000", false],
    ["ftp://127.0.0.1:8000", false],
    ["not a url", false],
  ])("isLoopbackEndpoint(%s) is %s", (endpoint, expected) => {
    expect(isLoopbackEndpoint(endpoint)).toBe(expected);
  });

  it("refuses to build a client for AWS or a missing endpoint when local is required", () => {
    expect(() =>
      createDynamoClient({ endpoint: "https://dynamodb.us-east-1.amazonaws.com", requireLocal: true }),
    ).toThrow(/Refusing non-local DynamoDB endpoint/);
    expect(() => createDynamoClient({ requireLocal: true })).toThrow(/Refusing non-local/);
  });

  it("test processes have no real AWS credentials and a dead default endpoint", () => {
    expect(process.env.AWS_ACCESS_KEY_ID).toBe("test");
    expect(process.env.AWS_ENDPOINT_URL).toBe("http://127.0.0.1:9");
    expect(process.env.AWS_PROFILE ?? "").toBe("");
  });
});
