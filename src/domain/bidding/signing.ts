import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Envelope } from "./messages.js";

const SIGNATURE = /^sha256=([0-9a-f]{64})$/;

/** A fresh bid-signing secret: 32 random bytes, base64url. */
export function generateAgentSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** A fresh message nonce: 16 random bytes, base64url (22 characters). */
export function generateNonce(): string {
  return randomBytes(16).toString("base64url");
}

/** `sha256=<hex HMAC-SHA256 of body with secret>`: the signature of every message, both directions. */
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

/** A message ready for the wire: the exact body and its signature. */
export interface SealedMessage {
  body: string;
  signature: string;
}

/**
 * Protocol v2: stamps `sent_at` (now) and a fresh `nonce` inside the body, serialises it once and
 * signs those bytes. Every send gets a new envelope, so a retry a minute later is still fresh for
 * the receiver, and a captured copy re-sent by anyone else is STALE or a REPLAY there.
 */
export function sealMessage<T extends object>(
  message: T,
  secret: string,
  { now = new Date(), nonce = generateNonce() }: { now?: Date; nonce?: string } = {},
): SealedMessage {
  const envelope: Envelope = { sent_at: now.toISOString(), nonce };
  const body = JSON.stringify({ ...message, ...envelope });
  return { body, signature: signBody(secret, body) };
}

/**
 * `undefined` when `sentAt` is within `maxSkewSeconds` of `acceptedAt` (when the queue accepted the
 * message), in either direction; otherwise the detail of a STALE refusal.
 */
export function staleness(sentAt: string, acceptedAt: string, maxSkewSeconds: number): string | undefined {
  const skewMs = Date.parse(sentAt) - Date.parse(acceptedAt);
  if (Math.abs(skewMs) <= maxSkewSeconds * 1000) return undefined;
  const seconds = Math.round(Math.abs(skewMs) / 1000);
  const side = skewMs < 0 ? "before" : "after";
  return `sent_at ${sentAt} is ${seconds} s ${side} the queue accepted the message at ${acceptedAt} (at most ${maxSkewSeconds} s)`;
}
