import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { type DataKey, type KeyWrapper, SecretDecryptionError } from "./key-wrapper.js";

/** Length of the key file and of every data key (AES-256). */
export const LOCAL_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Binds a wrapped data key to this use of the key-encryption key. */
const WRAP_AAD = Buffer.from("agentforge-bid-secret/data-key/v1");

/**
 * {@link KeyWrapper} for the local stack: the key-encryption key is 32 bytes from a file (or memory),
 * and a wrapped data key is `iv (12) ‖ AES-256-GCM(data key) (32) ‖ tag (16)`. Stands in for KMS
 * locally; the file is as sensitive as the KMS key it replaces.
 */
export function createLocalKeyWrapper({ key }: { key: Buffer }): KeyWrapper {
  if (key.length !== LOCAL_KEY_BYTES) throw new Error(`A local key must be ${LOCAL_KEY_BYTES} bytes`);
  const kek = Buffer.from(key);
  return {
    kind: "local",
    async generateDataKey(): Promise<DataKey> {
      const plaintext = randomBytes(LOCAL_KEY_BYTES);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", kek, iv).setAAD(WRAP_AAD);
      const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { plaintext, wrapped: Buffer.concat([iv, sealed, cipher.getAuthTag()]) };
    },
    async unwrap(wrapped: Buffer): Promise<Buffer> {
      if (wrapped.length !== IV_BYTES + LOCAL_KEY_BYTES + TAG_BYTES) {
        throw new SecretDecryptionError("A wrapped data key has the wrong length");
      }
      const decipher = createDecipheriv("aes-256-gcm", kek, wrapped.subarray(0, IV_BYTES)).setAAD(WRAP_AAD);
      decipher.setAuthTag(wrapped.subarray(IV_BYTES + LOCAL_KEY_BYTES));
      try {
        return Buffer.concat([
          decipher.update(wrapped.subarray(IV_BYTES, IV_BYTES + LOCAL_KEY_BYTES)),
          decipher.final(),
        ]);
      } catch {
        throw new SecretDecryptionError(
          "A data key does not unwrap with this local key (written with another data directory's key file?)",
        );
      }
    },
  };
}

/**
 * Reads a local key file: exactly 32 bytes, and not readable by group or others (like an SSH key).
 * Every problem is one sentence naming the file and the fix.
 */
export function readLocalKeyFile(path: string): Buffer {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (error) {
    throw new Error(
      `Cannot read the bid-secret key file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ` +
        "the local stack creates it on start; it must be the file the stored secrets were encrypted with.",
    );
  }
  if (key.length !== LOCAL_KEY_BYTES) {
    throw new Error(
      `The bid-secret key file ${path} must hold exactly ${LOCAL_KEY_BYTES} bytes, not ${key.length}`,
    );
  }
  if (process.platform !== "win32" && (statSync(path).mode & 0o077) !== 0) {
    throw new Error(`The bid-secret key file ${path} is readable by other users: chmod 600 it`);
  }
  return key;
}

/**
 * Creates the key file with 32 random bytes and mode 0600 if it does not exist (never overwrites:
 * the stored secrets depend on it). True when it was created now.
 */
export function ensureLocalKeyFile(path: string): boolean {
  try {
    writeFileSync(path, randomBytes(LOCAL_KEY_BYTES), { flag: "wx", mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

let ephemeral: Buffer | undefined;

/**
 * One random key per process, for local runs without a key file (tests, in-memory tables): every
 * wrapper in the process shares it, so what one repository sealed another can open, and nothing
 * sealed with it survives the process.
 */
export function processEphemeralKey(): Buffer {
  ephemeral ??= randomBytes(LOCAL_KEY_BYTES);
  return ephemeral;
}
