import { describe, expect, it } from "vitest";
import { createSecretResolver, SecretUnavailableError } from "../../src/adapters/secrets.js";

describe("webhook secret resolution", () => {
  it("uses a configured value as is", async () => {
    const secret = createSecretResolver({ name: "GitHub webhook secret", source: { value: "local-secret" } });

    await expect(secret()).resolves.toBe("local-secret");
  });

  it("reads a Secrets Manager secret once and serves later calls from memory", async () => {
    const reads: string[] = [];
    const secret = createSecretResolver({
      name: "GitHub webhook secret",
      source: { secretId: "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-webhook" },
      fetch: async (id) => {
        reads.push(id);
        return "from-secrets-manager";
      },
    });

    const values = await Promise.all([secret(), secret(), secret()]);
    values.push(await secret());

    expect(values).toEqual(Array(4).fill("from-secrets-manager"));
    expect(reads).toEqual(["arn:aws:secretsmanager:us-east-1:123456789012:secret:github-webhook"]);
  });

  it("does not cache a failed read, so the next request retries", async () => {
    let calls = 0;
    const secret = createSecretResolver({
      name: "GitHub webhook secret",
      source: { secretId: "github-webhook" },
      fetch: async () => {
        calls += 1;
        if (calls === 1) throw new Error("throttled");
        return "eventually";
      },
    });

    await expect(secret()).rejects.toBeInstanceOf(SecretUnavailableError);
    await expect(secret()).resolves.toBe("eventually");
    expect(calls).toBe(2);
  });

  it.each([
    ["not configured", undefined, undefined],
    ["an empty value", { value: "" }, undefined],
    ["an empty SecretString", { secretId: "s" }, ""],
    ["a SecretBinary", { secretId: "s" }, new Uint8Array([1, 2])],
    ["missing in Secrets Manager", { secretId: "s" }, undefined],
  ])("refuses a secret that is %s, without echoing any value", async (_, source, stored) => {
    const secret = createSecretResolver({ name: "GitHub webhook secret", source, fetch: async () => stored });

    await expect(secret()).rejects.toThrow(/^GitHub webhook secret (is|in|could)/);
  });
});
