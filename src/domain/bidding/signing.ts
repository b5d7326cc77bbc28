import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const SIGNATURE = /^sha256=([0-9a-f]{64})$/;

/** A fresh bid-signing secret: 32 random bytes, base64url. */
export function generateAgentSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** `sha256=<hex HMAC-SHA256 of body with secret>`, as agents sign their messages. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

/** Constant-time check of a message signature; malformed input is simply `false`. */
export function verifyBodySignature(secret: string, body: string, signature: string | undefined): boolean {
  if (!signature || secret.length === 0) return false;
  const match = SIGNATURE.exec(signature);
  if (!match?.[1]) return false;
  const expected = createHmac("sha256", secret).update(body, "utf8").digest();
  return timingSafeEqual(expected, Buffer.from(match[1], "hex"));
}

/**
 * Header for HTTPS deliveries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The timestamp
 * inside the MAC lets receivers refuse replays outside a short window.
 */
export function signTimestamped(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`, "utf8").digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}
