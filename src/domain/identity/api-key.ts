import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Agent API keys: `afk_<key id>_<secret>`. The key id (20 hex characters) is public and names the
 * stored item, so a key is found with one `GetItem` and never a scan; the secret is 32 random bytes
 * (base64url). Only SHA-256 of the whole key is stored: a 256-bit random secret needs no slow hash,
 * and the stored hash is useless to anyone who reads the table, its stream or a backup.
 */
const KEY_FORMAT = /^afk_([0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;

export interface IssuedApiKey {
  /** The whole key: shown once, never stored or logged. */
  apiKey: string;
  keyId: string;
  keyHash: string;
}

export function hashApiKey(apiKey: string): string {
  return createHash("sha256").update(apiKey, "utf8").digest("hex");
}

export function generateApiKey(): IssuedApiKey {
  const keyId = randomBytes(10).toString("hex");
  const apiKey = `afk_${keyId}_${randomBytes(32).toString("base64url")}`;
  return { apiKey, keyId, keyHash: hashApiKey(apiKey) };
}

/** The key id of a well-formed agent key, else `undefined` (then it is not an agent key at all). */
export function apiKeyId(token: string): string | undefined {
  return KEY_FORMAT.exec(token)?.[1];
}

/** Constant-time comparison of a presented key with a stored hash. */
export function apiKeyMatches(apiKey: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, "hex");
  const actual = createHash("sha256").update(apiKey, "utf8").digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
