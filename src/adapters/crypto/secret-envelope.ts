import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { DataKeys } from "./data-key-cache.js";
import { SecretDecryptionError } from "./key-wrapper.js";

/**
 * Encrypts and decrypts one small secret bound to its owner. Adapters that store secrets hold only
 * what `seal` returns; `open` with another owner fails.
 */
export interface SecretCipher {
  seal(owner: string, plaintext: string): Promise<string>;
  open(owner: string, sealed: string): Promise<string>;
}

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PART = /^[A-Za-z0-9_-]+$/;

/** Additional authenticated data: the format version, the key wrapper and the owner (the agent id). */
function aad(kind: string, owner: string): Buffer {
  return Buffer.from(`agentforge-bid-secret\u0000${VERSION}\u0000${kind}\u0000${owner}`, "utf8");
}

/** True when `value` has the shape of a sealed secret (it may still fail to open). */
export function isSealedSecret(value: string): boolean {
  return value.startsWith(`${VERSION}.`) && value.split(".").length === 5;
}

/**
 * Envelope encryption of secrets: AES-256-GCM under a data key from {@link DataKeys}, a random
 * 12-byte IV per value, and the owner in the AAD, so a value copied to another agent's item does not
 * decrypt. The stored form is one compact string,
 * `v1.<wrapper kind>.<wrapped data key>.<iv>.<ciphertext ‖ 16-byte tag>` (parts base64url).
 */
export function createSecretEnvelope({ keys }: { keys: DataKeys }): SecretCipher {
  return {
    async seal(owner, plaintext) {
      const { plaintext: key, wrapped } = await keys.forEncryption();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(aad(keys.kind, owner));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
      return [VERSION, keys.kind, wrapped, iv, body]
        .map((part) => (typeof part === "string" ? part : part.toString("base64url")))
        .join(".");
    },

    async open(owner, sealed) {
      const parts = sealed.split(".");
      const [version, kind, wrapped, iv, body] = parts;
      if (
        parts.length !== 5 ||
        version !== VERSION ||
        !kind ||
        !wrapped ||
        !iv ||
        !body ||
        !parts.every((part) => PART.test(part))
      ) {
        throw new SecretDecryptionError(`The stored bid secret of ${owner} is not a ${VERSION} sealed value`);
      }
      if (kind !== keys.kind) {
        throw new SecretDecryptionError(
          `The stored bid secret of ${owner} was sealed with a ${kind} key, but this process has a ${keys.kind} key`,
        );
      }
      const ivBytes = Buffer.from(iv, "base64url");
      const bodyBytes = Buffer.from(body, "base64url");
      if (ivBytes.length !== IV_BYTES || bodyBytes.length < TAG_BYTES) {
        throw new SecretDecryptionError(`The stored bid secret of ${owner} is damaged`);
      }
      const key = await keys.forDecryption(Buffer.from(wrapped, "base64url"));
      const decipher = createDecipheriv("aes-256-gcm", key, ivBytes).setAAD(aad(kind, owner));
      decipher.setAuthTag(bodyBytes.subarray(bodyBytes.length - TAG_BYTES));
      try {
        return Buffer.concat([
          decipher.update(bodyBytes.subarray(0, bodyBytes.length - TAG_BYTES)),
          decipher.final(),
        ]).toString("utf8");
      } catch {
        throw new SecretDecryptionError(
          `The stored bid secret of ${owner} does not decrypt: it belongs to another agent or is damaged`,
        );
      }
    },
  };
}
