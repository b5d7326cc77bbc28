import { createHmac, timingSafeEqual } from "node:crypto";

/** GitHub's `X-Hub-Signature-256`: `sha256=` and 64 hex digits of HMAC-SHA256 over the raw body. */
const SIGNATURE_PATTERN = /^sha256=([0-9a-f]{64})$/i;

/** Computes the `X-Hub-Signature-256` value GitHub sends for `body` under `secret`. */
export function signWebhookBody(secret: string, body: Uint8Array | string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * True only when `signature` is the HMAC-SHA256 of the exact `body` bytes under `secret`.
 *
 * Works on bytes, not strings, so a base64-encoded body that is not valid UTF-8 is checked exactly as
 * GitHub signed it. The header is shape-checked before comparing, so a missing, short, long or non-hex
 * value returns false instead of throwing, and the digests compared are always 32 bytes each, which is
 * what `timingSafeEqual` needs to stay constant-time. An empty secret never verifies anything.
 */
export function verifyWebhookSignature(
  secret: string,
  body: Uint8Array,
  signature: string | undefined,
): boolean {
  if (!secret || signature === undefined) return false;
  const match = SIGNATURE_PATTERN.exec(signature.trim());
  const hex = match?.[1];
  if (!hex) return false;
  const expected = createHmac("sha256", secret).update(body).digest();
  return timingSafeEqual(Buffer.from(hex, "hex"), expected);
}
