import { randomUUID } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AttributeValue,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { createBidSecretCipher } from "../../src/adapters/crypto/bid-secret-cipher.js";
import { SecretDecryptionError } from "../../src/adapters/crypto/key-wrapper.js";
import { ensureLocalKeyFile } from "../../src/adapters/crypto/local-key-wrapper.js";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createAgentSecretRepository } from "../../src/adapters/dynamo/agent-secret.repository.js";
import { runEncryptSecrets } from "../../src/cli/encrypt-secrets.js";
import { createAgentService } from "../../src/domain/agents/agent.service.js";
import { ConflictError } from "../../src/domain/errors.js";
import { type TestTable, testBidSecrets, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

const T0 = new Date("2026-03-01T12:00:00.000Z");
const SEALED = /^v1\.local\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/;

describe("bid secrets at rest on DynamoDB Local", () => {
  let table: TestTable;
  let clock: Date;
  let repo: ReturnType<typeof createAgentRepository>;
  let agents: ReturnType<typeof createAgentService>;

  beforeAll(async () => {
    table = await useTestTable();
    clock = T0;
    repo = createAgentRepository({ service: table.service, secrets: testBidSecrets, now: () => clock });
    agents = createAgentService({
      agents: repo,
      endpointPolicy: { allowLoopback: true },
      secretRotationOverlapSeconds: 600,
    });
  });

  /** The secret item exactly as DynamoDB holds it (plain client, no ElectroDB). */
  async function rawSecretItem(agentId: string): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `AGENT#${agentId}` }, SK: { S: "SECRET" } },
        ConsistentRead: true,
      }),
    );
    return Item;
  }

  /** An item as the code before encryption at rest wrote it: the secret in plain text. */
  async function putLegacyItem(agentId: string, secret: string, rotatedAt = T0.toISOString()) {
    await table.raw.send(
      new PutItemCommand({
        TableName: table.tableName,
        Item: marshall({
          PK: `AGENT#${agentId}`,
          SK: "SECRET",
          type: "AGENT_SECRET",
          agent_id: agentId,
          secret,
          rotated_at: rotatedAt,
          __edb_e__: "agent_secret",
          __edb_v__: "1",
        }),
      }),
    );
  }

  async function registered(): Promise<{ agentId: string; secret: string }> {
    const input = agentInput();
    const { secret } = await agents.register(input, TEST_OPERATOR);
    if (!secret) throw new Error("registration returned no secret");
    return { agentId: input.agent_id, secret };
  }

  it("stores only ciphertext on registration: the secret appears nowhere in the raw item", async () => {
    const { agentId, secret } = await registered();

    const item = await rawSecretItem(agentId);

    expect(item?.secret).toBeUndefined();
    expect(item?.secret_ciphertext?.S).toMatch(SEALED);
    expect(JSON.stringify(item)).not.toContain(secret);
    expect(await repo.getSecret(agentId)).toBe(secret);
    expect(await repo.getVerificationSecrets(agentId)).toEqual({ current: secret });
  });

  it("rotation keeps the replaced secret, encrypted, in the previous slot for the overlap", async () => {
    const { agentId, secret: first } = await registered();
    clock = new Date(T0.getTime() + 60_000);

    const rotated = await agents.rotateSecret(agentId, TEST_OPERATOR);
    const item = await rawSecretItem(agentId);

    const validUntil = new Date(clock.getTime() + 600_000).toISOString();
    expect(rotated).toEqual({
      agent_id: agentId,
      secret: expect.any(String),
      previous_valid_until: validUntil,
    });
    const text = JSON.stringify(item);
    expect(text).not.toContain(first);
    expect(text).not.toContain(rotated.secret);
    expect(item?.secret).toBeUndefined();
    expect(item?.secret_ciphertext?.S).toMatch(SEALED);
    expect(item?.previous_secret_ciphertext?.S).toMatch(SEALED);
    expect(item?.previous_valid_until?.S).toBe(validUntil);
    expect(await repo.getSecret(agentId)).toBe(rotated.secret);
    expect(await repo.getVerificationSecrets(agentId)).toEqual({
      current: rotated.secret,
      previous: { secret: first, valid_until: validUntil },
    });
  });

  it("rotating again replaces the previous secret with the one just replaced", async () => {
    const { agentId } = await registered();
    clock = T0;
    const second = await agents.rotateSecret(agentId, TEST_OPERATOR);
    clock = new Date(T0.getTime() + 3_600_000);

    const third = await agents.rotateSecret(agentId, TEST_OPERATOR);

    expect(await repo.getVerificationSecrets(agentId)).toEqual({
      current: third.secret,
      previous: { secret: second.secret, valid_until: new Date(clock.getTime() + 600_000).toISOString() },
    });
  });

  it("with an overlap of 0 the replaced secret is dropped at once", async () => {
    const strict = createAgentService({
      agents: repo,
      endpointPolicy: { allowLoopback: true },
      secretRotationOverlapSeconds: 0,
    });
    const { agentId } = await registered();

    const rotated = await strict.rotateSecret(agentId, TEST_OPERATOR);

    expect(rotated).not.toHaveProperty("previous_valid_until");
    expect(await repo.getVerificationSecrets(agentId)).toEqual({ current: rotated.secret });
    expect((await rawSecretItem(agentId))?.previous_secret_ciphertext).toBeUndefined();
  });

  it("a ciphertext copied into another agent's item does not decrypt (the agent id is bound)", async () => {
    const a = await registered();
    const b = await registered();
    const stolen = (await rawSecretItem(a.agentId))?.secret_ciphertext?.S ?? "";

    await table.raw.send(
      new UpdateItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `AGENT#${b.agentId}` }, SK: { S: "SECRET" } },
        UpdateExpression: "SET secret_ciphertext = :stolen",
        ExpressionAttributeValues: { ":stolen": { S: stolen } },
      }),
    );

    await expect(repo.getSecret(b.agentId)).rejects.toThrow(SecretDecryptionError);
    await expect(repo.getVerificationSecrets(b.agentId)).rejects.toThrow(/another agent/);
    expect(await repo.getSecret(a.agentId)).toBe(a.secret);
  });

  it("re-encrypts a legacy plain-text item on first use and removes the plain text", async () => {
    const { agentId } = await registered();
    const legacy = `legacy-${randomUUID()}`;
    await putLegacyItem(agentId, legacy);
    expect((await rawSecretItem(agentId))?.secret?.S).toBe(legacy);

    const verification = await repo.getVerificationSecrets(agentId);
    const after = await rawSecretItem(agentId);

    expect(verification).toEqual({ current: legacy });
    expect(after?.secret).toBeUndefined();
    expect(after?.secret_ciphertext?.S).toMatch(SEALED);
    expect(after?.rotated_at?.S).toBe(T0.toISOString());
    expect(JSON.stringify(after)).not.toContain(legacy);
    expect(await repo.getSecret(agentId)).toBe(legacy);
  });

  it("the first-use upgrade never overwrites a rotation that happened after the item was read", async () => {
    const { agentId } = await registered();
    const legacy = `legacy-${randomUUID()}`;
    await putLegacyItem(agentId, legacy, "2026-01-01T00:00:00.000Z");
    const stale = { agent_id: agentId, secret: legacy, rotated_at: "2026-01-01T00:00:00.000Z" };
    const rotated = await agents.rotateSecret(agentId, TEST_OPERATOR);
    const secrets = createAgentSecretRepository({ service: table.service, secrets: testBidSecrets });

    expect(await secrets.encryptLegacy(stale)).toBe(false);
    expect(await repo.getVerificationSecrets(agentId)).toMatchObject({
      current: rotated.secret,
      previous: { secret: legacy },
    });
    expect(JSON.stringify(await rawSecretItem(agentId))).not.toContain(legacy);
  });

  it("rotating a legacy item encrypts the replaced plain text into the previous slot", async () => {
    const { agentId } = await registered();
    const legacy = `legacy-${randomUUID()}`;
    await putLegacyItem(agentId, legacy);

    const rotated = await agents.rotateSecret(agentId, TEST_OPERATOR);

    expect(JSON.stringify(await rawSecretItem(agentId))).not.toContain(legacy);
    expect(await repo.getVerificationSecrets(agentId)).toMatchObject({
      current: rotated.secret,
      previous: { secret: legacy },
    });
  });

  it("refuses a rotation that lost the race to another one (ConflictError), keeping the winner", async () => {
    const { agentId } = await registered();
    let raced = false;
    const racing = createAgentRepository({
      service: table.service,
      secrets: {
        seal: async (owner, plaintext) => {
          // Another rotation commits between this one's read and its write.
          if (!raced) {
            raced = true;
            await repo.rotateSecret(agentId, "the-winner-secret", 600);
          }
          return testBidSecrets.seal(owner, plaintext);
        },
        open: (owner, sealed) => testBidSecrets.open(owner, sealed),
      },
    });

    await expect(racing.rotateSecret(agentId, "the-loser-secret", 600)).rejects.toThrow(ConflictError);
    expect(await repo.getSecret(agentId)).toBe("the-winner-secret");
  });
});

describe("npm run secrets:encrypt on DynamoDB Local", () => {
  it("re-encrypts every legacy item, page by page, prints counts, and is idempotent", async () => {
    const table = await useTestTable();
    const keyFile = join(await mkdtemp(join(tmpdir(), "secrets-encrypt-")), "bid-secret.key");
    ensureLocalKeyFile(keyFile);
    const cipher = createBidSecretCipher({ source: { file: keyFile }, local: true });
    const repo = createAgentRepository({ service: table.service, secrets: cipher });
    const agents = createAgentService({ agents: repo, endpointPolicy: { allowLoopback: true } });
    const legacy = new Map<string, string>();
    for (let i = 0; i < 3; i++) {
      const input = agentInput();
      await agents.register(input, TEST_OPERATOR);
      const secret = `legacy-${i}-${randomUUID()}`;
      legacy.set(input.agent_id, secret);
      await table.raw.send(
        new PutItemCommand({
          TableName: table.tableName,
          Item: marshall({
            PK: `AGENT#${input.agent_id}`,
            SK: "SECRET",
            type: "AGENT_SECRET",
            agent_id: input.agent_id,
            secret,
            rotated_at: T0.toISOString(),
            __edb_e__: "agent_secret",
            __edb_v__: "1",
          }),
        }),
      );
    }
    const encrypted = agentInput();
    const { secret: encryptedSecret } = await agents.register(encrypted, TEST_OPERATOR);
    const args = [
      "--table",
      table.tableName,
      "--endpoint",
      table.endpoint,
      "--key-file",
      keyFile,
      "--page-size",
      "3",
    ];
    const run = async () => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runEncryptSecrets(args, {}, { out: (l) => out.push(l), err: (l) => err.push(l) });
      return { code, out: out.join("\n"), err: err.join("\n") };
    };
    const raw = async (agentId: string) =>
      (
        await table.raw.send(
          new GetItemCommand({
            TableName: table.tableName,
            Key: { PK: { S: `AGENT#${agentId}` }, SK: { S: "SECRET" } },
            ConsistentRead: true,
          }),
        )
      ).Item;

    const first = await run();

    expect(first.code).toBe(0);
    expect(first.out).toMatch(
      /4 agent secrets: 3 encrypted now, 1 already encrypted, 0 stray plain texts removed, 0 changed/,
    );
    expect(first.err.split("\n").length).toBeGreaterThan(1);
    for (const [agentId, secret] of legacy) {
      const item = await raw(agentId);
      expect(item?.secret, agentId).toBeUndefined();
      expect(item?.secret_ciphertext?.S, agentId).toMatch(SEALED);
      expect(JSON.stringify(item)).not.toContain(secret);
      expect(await repo.getSecret(agentId)).toBe(secret);
    }
    expect(await repo.getSecret(encrypted.agent_id)).toBe(encryptedSecret);

    const second = await run();

    expect(second.code).toBe(0);
    expect(second.out).toMatch(/4 agent secrets: 0 encrypted now, 4 already encrypted/);
  });

  it("explains its usage and refuses to run without a table or a key", async () => {
    const lines: string[] = [];
    const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l) };

    expect(await runEncryptSecrets([], {}, io)).toBe(2);
    expect(lines.join("\n")).toContain("--table (or TABLE_NAME) is required");
    expect(await runEncryptSecrets(["--table", "t"], {}, io)).toBe(2);
    expect(lines.join("\n")).toContain("--kms-key-id (or BID_SECRET_KMS_KEY_ID) or --key-file is required");
  });
});
