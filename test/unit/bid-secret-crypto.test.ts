import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DecryptCommand, GenerateDataKeyCommand } from "@aws-sdk/client-kms";
import { describe, expect, it } from "vitest";
import { bidSecretKeyWrapper, createBidSecretCipher } from "../../src/adapters/crypto/bid-secret-cipher.js";
import { createCachedDataKeys, type DataKeyCachePolicy } from "../../src/adapters/crypto/data-key-cache.js";
import { type KeyWrapper, SecretDecryptionError } from "../../src/adapters/crypto/key-wrapper.js";
import { createKmsKeyWrapper, type KmsClientLike } from "../../src/adapters/crypto/kms-key-wrapper.js";
import {
  createLocalKeyWrapper,
  ensureLocalKeyFile,
  readLocalKeyFile,
} from "../../src/adapters/crypto/local-key-wrapper.js";
import { createSecretEnvelope, isSealedSecret } from "../../src/adapters/crypto/secret-envelope.js";
import { loadConfig } from "../../src/config.js";

const SECRET = "s3cr3t-bid-signing-value-0123456789abcdefghi";

/** A local wrapper that counts the calls the caches are meant to save (KMS calls, on AWS). */
function countingWrapper(inner: KeyWrapper = createLocalKeyWrapper({ key: randomBytes(32) })) {
  const calls = { generate: 0, unwrap: 0 };
  const wrapper: KeyWrapper = {
    kind: inner.kind,
    generateDataKey: () => {
      calls.generate += 1;
      return inner.generateDataKey();
    },
    unwrap: (wrapped) => {
      calls.unwrap += 1;
      return inner.unwrap(wrapped);
    },
  };
  return { wrapper, calls };
}

function envelope(wrapper: KeyWrapper, policy: Partial<DataKeyCachePolicy> = {}, now?: () => number) {
  return createSecretEnvelope({ keys: createCachedDataKeys(wrapper, policy, now) });
}

describe("secret envelope", () => {
  it("stores one compact versioned string that does not contain the secret, and opens it again", async () => {
    const cipher = envelope(createLocalKeyWrapper({ key: randomBytes(32) }));

    const sealed = await cipher.seal("agent-a", SECRET);

    expect(sealed).toMatch(/^v1\.local\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(isSealedSecret(sealed)).toBe(true);
    expect(sealed).not.toContain(SECRET);
    expect(sealed).not.toContain(Buffer.from(SECRET).toString("base64url"));
    expect(await cipher.open("agent-a", sealed)).toBe(SECRET);
  });

  it("uses a fresh IV each time: the same secret seals differently", async () => {
    const cipher = envelope(createLocalKeyWrapper({ key: randomBytes(32) }));

    const [one, two] = [await cipher.seal("agent-a", SECRET), await cipher.seal("agent-a", SECRET)];

    expect(one).not.toBe(two);
    expect(one.split(".")[2]).toBe(two.split(".")[2]);
  });

  it("binds the agent id (AAD): a value moved to another agent does not open", async () => {
    const cipher = envelope(createLocalKeyWrapper({ key: randomBytes(32) }));
    const sealed = await cipher.seal("agent-a", SECRET);

    await expect(cipher.open("agent-b", sealed)).rejects.toThrow(SecretDecryptionError);
    await expect(cipher.open("agent-b", sealed)).rejects.toThrow(/belongs to another agent or is damaged/);
  });

  it("refuses tampered, truncated, foreign-key and other-wrapper values without echoing them", async () => {
    const cipher = envelope(createLocalKeyWrapper({ key: randomBytes(32) }));
    const other = envelope(createLocalKeyWrapper({ key: randomBytes(32) }));
    const sealed = await cipher.seal("agent-a", SECRET);
    const parts = sealed.split(".");
    const body = Buffer.from(parts[4] ?? "", "base64url");
    body[0] = (body[0] ?? 0) ^ 1;
    const flipped = [...parts.slice(0, 4), body.toString("base64url")].join(".");

    for (const bad of [
      flipped,
      parts.slice(0, 4).join("."),
      `v2.${parts.slice(1).join(".")}`,
      "plain-text",
    ]) {
      await expect(cipher.open("agent-a", bad)).rejects.toThrow(SecretDecryptionError);
    }
    await expect(other.open("agent-a", sealed)).rejects.toThrow(/another data directory's key/);
    await expect(cipher.open("agent-a", ["v1", "kms", ...parts.slice(2)].join("."))).rejects.toThrow(
      "was sealed with a kms key, but this process has a local key",
    );
    await expect(cipher.open("agent-a", flipped)).rejects.not.toThrow(SECRET);
  });
});

describe("data-key caching", () => {
  it("1000 seals and 1000 opens in one container cost one data key and no unwrap", async () => {
    const { wrapper, calls } = countingWrapper();
    const cipher = envelope(wrapper);

    const sealed = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => cipher.seal(`agent-${i}`, SECRET)),
    );
    const opened = await Promise.all(sealed.map((value, i) => cipher.open(`agent-${i}`, value)));

    expect(opened.every((value) => value === SECRET)).toBe(true);
    expect(calls).toEqual({ generate: 1, unwrap: 0 });
  });

  it("another container opening N values sealed under one data key unwraps it once", async () => {
    const inner = createLocalKeyWrapper({ key: randomBytes(32) });
    const sealing = envelope(inner);
    const { wrapper: reader, calls } = countingWrapper(inner);
    const opening = envelope(reader);

    const sealed = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sealing.seal(`agent-${i}`, SECRET)),
    );
    await Promise.all(sealed.map((value, i) => opening.open(`agent-${i}`, value)));
    await Promise.all(sealed.map((value, i) => opening.open(`agent-${i}`, value)));

    expect(calls.unwrap).toBe(1);
  });

  it("retires the encryption key after its maximum uses and after its maximum age", async () => {
    let clock = 0;
    const { wrapper, calls } = countingWrapper();
    const cipher = envelope(wrapper, { encryptMaxUses: 10, encryptMaxAgeMs: 60_000 }, () => clock);

    for (let i = 0; i < 25; i++) await cipher.seal("agent-a", SECRET);
    expect(calls.generate).toBe(3);
    clock += 60_000;
    await cipher.seal("agent-a", SECRET);
    expect(calls.generate).toBe(4);
  });

  it("forgets unwrapped keys after their TTL and keeps at most the configured number (LRU)", async () => {
    let clock = 0;
    const inner = createLocalKeyWrapper({ key: randomBytes(32) });
    const sealer = envelope(inner, { encryptMaxUses: 1 });
    const values = [
      await sealer.seal("a", SECRET),
      await sealer.seal("a", SECRET),
      await sealer.seal("a", SECRET),
    ];
    const { wrapper, calls } = countingWrapper(inner);
    const reader = envelope(wrapper, { decryptMaxEntries: 2, decryptTtlMs: 300_000 }, () => clock);

    for (const value of values) await reader.open("a", value);
    expect(calls.unwrap).toBe(3);
    await reader.open("a", values[2] as string);
    await reader.open("a", values[1] as string);
    expect(calls.unwrap).toBe(3);
    await reader.open("a", values[0] as string);
    expect(calls.unwrap).toBe(4);
    clock += 300_000;
    await reader.open("a", values[0] as string);
    expect(calls.unwrap).toBe(5);
  });

  it("shares one in-flight call between concurrent callers and does not cache a failure", async () => {
    let fail = true;
    const inner = createLocalKeyWrapper({ key: randomBytes(32) });
    let generated = 0;
    const flaky: KeyWrapper = {
      kind: "local",
      generateDataKey: async () => {
        generated += 1;
        if (fail) throw new Error("KMS throttled");
        return inner.generateDataKey();
      },
      unwrap: (wrapped) => inner.unwrap(wrapped),
    };
    const cipher = envelope(flaky);

    const results = await Promise.allSettled([1, 2, 3].map(() => cipher.seal("a", SECRET)));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(generated).toBe(1);
    fail = false;
    expect(await cipher.open("a", await cipher.seal("a", SECRET))).toBe(SECRET);
    expect(generated).toBe(2);
  });
});

describe("KMS key wrapper (stub client: there is no KMS emulator)", () => {
  /** Stands in for KMS: wraps with a local key, and records each command's input. */
  function stubKms() {
    const kek = createLocalKeyWrapper({ key: randomBytes(32) });
    const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
    const send = async (command: GenerateDataKeyCommand | DecryptCommand) => {
      sent.push({ name: command.constructor.name, input: command.input as Record<string, unknown> });
      if (command instanceof GenerateDataKeyCommand) {
        const { plaintext, wrapped } = await kek.generateDataKey();
        return {
          Plaintext: new Uint8Array(plaintext),
          CiphertextBlob: new Uint8Array(wrapped),
          $metadata: {},
        };
      }
      const blob = Buffer.from((command.input as { CiphertextBlob: Uint8Array }).CiphertextBlob);
      return { Plaintext: new Uint8Array(await kek.unwrap(blob)), $metadata: {} };
    };
    // One implementation answers both overloads of the SDK's send.
    const client = { send } as unknown as KmsClientLike;
    return { client, sent };
  }

  it("asks for AES_256 data keys and decrypts with the key id and the bid-secret encryption context", async () => {
    const { client, sent } = stubKms();
    const writer = createBidSecretCipher({
      source: { kmsKeyId: "arn:aws:kms:eu-west-1:1:key/k" },
      local: false,
      kms: client,
    });
    const reader = createBidSecretCipher({
      source: { kmsKeyId: "arn:aws:kms:eu-west-1:1:key/k" },
      local: false,
      kms: client,
    });

    const sealed = await writer.seal("agent-a", SECRET);
    expect(sealed.startsWith("v1.kms.")).toBe(true);
    expect(await reader.open("agent-a", sealed)).toBe(SECRET);

    const context = { purpose: "agentforge-bid-secret" };
    expect(sent).toEqual([
      {
        name: "GenerateDataKeyCommand",
        input: { KeyId: "arn:aws:kms:eu-west-1:1:key/k", KeySpec: "AES_256", EncryptionContext: context },
      },
      {
        name: "DecryptCommand",
        input: {
          CiphertextBlob: expect.any(Buffer),
          KeyId: "arn:aws:kms:eu-west-1:1:key/k",
          EncryptionContext: context,
        },
      },
    ]);
  });

  it("refuses an answer without a 32-byte data key", async () => {
    const client = {
      send: async () => ({ Plaintext: new Uint8Array(16), CiphertextBlob: new Uint8Array(8), $metadata: {} }),
    } as unknown as KmsClientLike;
    const wrapper = createKmsKeyWrapper({ client, keyId: "k", encryptionContext: {} });

    await expect(wrapper.generateDataKey()).rejects.toThrow("returned no AES-256 data key");
    await expect(wrapper.unwrap(Buffer.alloc(8))).rejects.toThrow("returned no AES-256 data key");
  });
});

describe("local key file and configuration", () => {
  it("is created once with 32 random bytes and mode 0600, and never overwritten", async () => {
    const path = join(await mkdtemp(join(tmpdir(), "bid-key-")), "bid-secret.key");

    expect(ensureLocalKeyFile(path)).toBe(true);
    const first = readFileSync(path);
    expect(ensureLocalKeyFile(path)).toBe(false);

    expect(first).toHaveLength(32);
    expect(readFileSync(path).equals(first)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readLocalKeyFile(path).equals(first)).toBe(true);
  });

  it("refuses a key file of the wrong size, readable by others, or missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "bid-key-"));
    const short = join(dir, "short.key");
    writeFileSync(short, randomBytes(16), { mode: 0o600 });
    const open = join(dir, "open.key");
    writeFileSync(open, randomBytes(32));
    chmodSync(open, 0o644);

    expect(() => readLocalKeyFile(short)).toThrow("must hold exactly 32 bytes, not 16");
    expect(() => readLocalKeyFile(open)).toThrow("is readable by other users: chmod 600 it");
    expect(() => readLocalKeyFile(join(dir, "none.key"))).toThrow(
      /Cannot read the bid-secret key file .*ENOENT/,
    );
  });

  it("outside local mode refuses to run without a KMS key; locally refuses KMS; never both variables", () => {
    expect(() => bidSecretKeyWrapper({ local: false })).toThrow("BID_SECRET_KMS_KEY_ID must be configured");
    expect(() => bidSecretKeyWrapper({ local: true, source: { kmsKeyId: "k" } })).toThrow(
      "the local stack uses BID_SECRET_KEY_FILE",
    );
    expect(bidSecretKeyWrapper({ local: true }).kind).toBe("local");
    expect(() => loadConfig({ BID_SECRET_KMS_KEY_ID: "k", BID_SECRET_KEY_FILE: "/f" })).toThrow("not both");
    expect(loadConfig({ BID_SECRET_KMS_KEY_ID: "k" })).toMatchObject({
      bidSecretKey: { kmsKeyId: "k" },
      secretRotationOverlapSeconds: 600,
    });
    expect(loadConfig({ BID_SECRET_KEY_FILE: "/f", SECRET_ROTATION_OVERLAP_SECONDS: "0" })).toMatchObject({
      bidSecretKey: { file: "/f" },
      secretRotationOverlapSeconds: 0,
    });
  });
});
