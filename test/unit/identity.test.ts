import { describe, expect, it } from "vitest";
import { createOperatorCredentials, parseOperatorDocument } from "../../src/adapters/operator-credentials.js";
import { apiKeyId, apiKeyMatches, generateApiKey, hashApiKey } from "../../src/domain/identity/api-key.js";
import { createAuthenticator } from "../../src/domain/identity/authenticator.js";
import { actorOf, principalFromActor } from "../../src/domain/identity/principal.js";
import type { StoredApiKey } from "../../src/ports/agent-repository.js";

const OPS_TOKEN = "o".repeat(40);
const ALICE_TOKEN = "a".repeat(40);

function keyStore(keys: StoredApiKey[]) {
  const byId = new Map(keys.map((k) => [k.key_id, k]));
  return { getApiKey: async (id: string) => byId.get(id) };
}

describe("agent API keys", () => {
  it("carry a public key id and only their hash is needed to check them", () => {
    const key = generateApiKey();
    expect(key.apiKey).toMatch(/^afk_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/);
    expect(apiKeyId(key.apiKey)).toBe(key.keyId);
    expect(key.keyHash).toBe(hashApiKey(key.apiKey));
    expect(key.keyHash).not.toContain(key.apiKey.slice(25));
    expect(apiKeyMatches(key.apiKey, key.keyHash)).toBe(true);
    expect(apiKeyMatches(`${key.apiKey.slice(0, -1)}x`, key.keyHash)).toBe(false);
    expect(apiKeyId("afk_short_x")).toBeUndefined();
  });
});

describe("principals", () => {
  it("round-trip through the actor string the authorizer passes, and refuse anything else", () => {
    expect(principalFromActor(actorOf({ kind: "operator", name: "alice" }))).toEqual({
      kind: "operator",
      name: "alice",
    });
    expect(principalFromActor("agent:A-1")).toEqual({ kind: "agent", agentId: "A-1" });
    for (const bad of ["agent:", "operator:Alice", "agent:a\u0000", "root", 42, undefined, "agent:#x"]) {
      expect(principalFromActor(bad)).toBeUndefined();
    }
  });
});

describe("authenticator", () => {
  const now = new Date("2030-01-01T00:00:00.000Z");
  const current = generateApiKey();
  const rotated = generateApiKey();
  const expired = generateApiKey();
  const authenticate = createAuthenticator({
    operators: async () => [
      { name: "default", token: OPS_TOKEN },
      { name: "alice", token: ALICE_TOKEN },
    ],
    apiKeys: keyStore([
      { key_id: current.keyId, agent_id: "A", key_hash: current.keyHash, created_at: now.toISOString() },
      {
        key_id: rotated.keyId,
        agent_id: "A",
        key_hash: rotated.keyHash,
        created_at: now.toISOString(),
        not_after: new Date(now.getTime() + 1000).toISOString(),
      },
      {
        key_id: expired.keyId,
        agent_id: "A",
        key_hash: expired.keyHash,
        created_at: now.toISOString(),
        not_after: now.toISOString(),
      },
    ]),
    now: () => now,
  });

  it("resolves operators by name and agents by key", async () => {
    expect(await authenticate(`Bearer ${OPS_TOKEN}`)).toEqual({
      ok: true,
      principal: { kind: "operator", name: "default" },
    });
    expect(await authenticate(`bearer  ${ALICE_TOKEN} `)).toMatchObject({ principal: { name: "alice" } });
    expect(await authenticate(`Bearer ${current.apiKey}`)).toEqual({
      ok: true,
      principal: { kind: "agent", agentId: "A" },
    });
  });

  it("keeps a rotated-out key within its overlap and refuses it after", async () => {
    expect(await authenticate(`Bearer ${rotated.apiKey}`)).toMatchObject({ ok: true });
    expect(await authenticate(`Bearer ${expired.apiKey}`)).toEqual({ ok: false, reason: "expired_key" });
  });

  it("refuses missing, malformed, unknown and forged credentials", async () => {
    const forged = `afk_${current.keyId}_${"x".repeat(43)}`;
    const cases: Array<[string | undefined, string]> = [
      [undefined, "missing"],
      ["Basic abc", "malformed"],
      ["Bearer a\u0000b", "malformed"],
      [`Bearer ${"z".repeat(600)}`, "malformed"],
      ["Bearer nope", "unknown_token"],
      [`Bearer ${forged}`, "unknown_key"],
      [`Bearer ${generateApiKey().apiKey}`, "unknown_key"],
    ];
    for (const [header, reason] of cases) expect(await authenticate(header)).toEqual({ ok: false, reason });
  });
});

describe("operator credentials", () => {
  it("parse a names-to-tokens document and refuse bad names or short tokens without echoing tokens", () => {
    expect(parseOperatorDocument(JSON.stringify({ alice: ALICE_TOKEN }), "f")).toEqual([
      { name: "alice", token: ALICE_TOKEN },
    ]);
    expect(() => parseOperatorDocument(JSON.stringify({ Alice: ALICE_TOKEN }), "f")).toThrow(/operator name/);
    expect(() => parseOperatorDocument(JSON.stringify({ bob: "short-secret" }), "f")).toThrow(
      /bob needs a token/,
    );
    try {
      parseOperatorDocument(JSON.stringify({ bob: "short-secret" }), "f");
    } catch (error) {
      expect((error as Error).message).not.toContain("short-secret");
    }
    expect(() => parseOperatorDocument("[1]", "f")).toThrow(/JSON object/);
  });

  it("accept AWSCURRENT and AWSPREVIOUS during a rotation and re-read after the TTL", async () => {
    let clock = 0;
    let version = 1;
    const reads: string[] = [];
    const versions: Record<number, Record<string, string>> = {
      1: { AWSCURRENT: JSON.stringify({ alice: ALICE_TOKEN }) },
      2: {
        AWSCURRENT: JSON.stringify({ alice: "n".repeat(40) }),
        AWSPREVIOUS: JSON.stringify({ alice: ALICE_TOKEN }),
      },
    };
    const credentials = createOperatorCredentials({
      defaultToken: { value: OPS_TOKEN },
      operators: { secretId: "agentforge/operators" },
      ttlMs: 60_000,
      now: () => clock,
      fetch: async (id, stage) => {
        reads.push(`${id}@${stage}`);
        return versions[version]?.[stage];
      },
    });
    expect(await credentials()).toEqual([
      { name: "default", token: OPS_TOKEN },
      { name: "alice", token: ALICE_TOKEN },
    ]);
    version = 2;
    clock = 59_000;
    expect(await credentials()).toHaveLength(2);
    clock = 60_000;
    expect((await credentials()).map((c) => c.token)).toEqual([OPS_TOKEN, "n".repeat(40), ALICE_TOKEN]);
    expect(reads).toHaveLength(4);
  });

  it("do not cache a failed read", async () => {
    let fail = true;
    const credentials = createOperatorCredentials({
      operators: { secretId: "x" },
      fetch: async (_id, stage) => {
        if (fail) throw new Error("throttled");
        return stage === "AWSCURRENT" ? JSON.stringify({ ops: OPS_TOKEN }) : undefined;
      },
    });
    await expect(credentials()).rejects.toThrow(/could not be read/);
    fail = false;
    expect(await credentials()).toEqual([{ name: "ops", token: OPS_TOKEN }]);
  });

  it("refuse only the named operators when their document is invalid: the default operator still works", async () => {
    const problems: string[] = [];
    const credentials = createOperatorCredentials({
      defaultToken: { value: OPS_TOKEN },
      operators: { value: JSON.stringify({ bob: "short" }) },
      onInvalidDocument: (error) => problems.push(error.message),
    });
    expect(await credentials()).toEqual([{ name: "default", token: OPS_TOKEN }]);
    expect(problems).toEqual([expect.stringContaining("bob needs a token")]);
    const withoutDefault = createOperatorCredentials({ operators: { value: "not json" } });
    await expect(withoutDefault()).rejects.toThrow(/JSON object/);
  });
});
