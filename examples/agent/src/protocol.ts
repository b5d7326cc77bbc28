/**
 * AgentForge message protocol v2, as an agent sees it. This file depends on nothing but Node's
 * crypto, so an agent developer can copy it as is.
 *
 * Every message, in both directions, is a JSON object whose body carries:
 * - `sent_at`: when the sender sent it, ISO 8601 in UTC (`2026-12-07T10:00:00.000Z`);
 * - `nonce`: 16–128 characters of `A–Z a–z 0–9 . _ ~ : -`, never reused by the same sender.
 *
 * The signature is `sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the agent's bid
 * secret>`. On SQS it travels in the `X-AgentForge-Signature` string message attribute, on HTTPS in
 * the `X-AgentForge-Signature` header. Because `sent_at` and `nonce` are inside the signed body, a
 * receiver refuses a captured message re-sent later (STALE: `sent_at` too far from the time the
 * queue accepted it) or re-sent soon (REPLAY: the nonce was seen before).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The message attribute (SQS) or header (HTTPS) carrying the signature. */
export const SIGNATURE_ATTRIBUTE = "X-AgentForge-Signature";
/** How far `sent_at` may be from the time the queue accepted the message, by default. */
export const DEFAULT_MAX_SKEW_SECONDS = 300;

const SIGNATURE = /^sha256=([0-9a-f]{64})$/;
const NONCE = /^[A-Za-z0-9._~:-]{16,128}$/;
const UTC_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Fields every protocol v2 message carries. */
export interface Envelope {
  sent_at: string;
  nonce: string;
}

/** A call for proposals, sent to each capable agent. `agent_id` is the recipient. */
export interface BidRequest extends Envelope {
  type: "BID_REQUEST";
  task_id: string;
  agent_id: string;
  title: string;
  capabilities: string[];
  budget: number | null;
  deadline: string;
  /** The bids queue: where BID, DECLINE and COST_REPORT go. */
  reply_to: string;
}

/** Sent to the winner once the award is final. */
export interface AwardNotice extends Envelope {
  type: "AWARD";
  task_id: string;
  agent_id: string;
  bid_amount: number;
  awarded_at: string;
  reply_to: string;
}

/** Sent to every other bidder. */
export interface RejectionNotice extends Envelope {
  type: "REJECTION";
  task_id: string;
  agent_id: string;
  reason: string;
}

export type MarketplaceMessage = BidRequest | AwardNotice | RejectionNotice;

export interface Bid extends Envelope {
  type: "BID";
  task_id: string;
  agent_id: string;
  /** Dollars, at most two decimals. */
  bid_amount: number;
  estimated_completion_sec: number;
}

export interface Decline extends Envelope {
  type: "DECLINE";
  task_id: string;
  agent_id: string;
}

export interface CostReport extends Envelope {
  type: "COST_REPORT";
  task_id: string;
  agent_id: string;
  actual_cost: number;
}

export type AgentMessage = Bid | Decline | CostReport;

/**
 * A message without its envelope: what a sender fills in before {@link seal} stamps it. Distributes
 * over a union, so `Unsealed<AgentMessage>` is "an unsealed BID, DECLINE or COST_REPORT".
 */
export type Unsealed<T extends Envelope> = T extends Envelope ? Omit<T, keyof Envelope> : never;

/** A fresh nonce: 16 random bytes, base64url (22 characters). */
export function newNonce(): string {
  return randomBytes(16).toString("base64url");
}

/** `sha256=<hex HMAC-SHA256 of body keyed with secret>`. */
export function sign(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

/** Constant-time check of `signature` over the exact `body`; malformed input is `false`. */
export function verifySignature(secret: string, body: string, signature: string | undefined): boolean {
  if (!signature || secret.length === 0) return false;
  const match = SIGNATURE.exec(signature);
  if (!match?.[1]) return false;
  const expected = createHmac("sha256", secret).update(body, "utf8").digest();
  return timingSafeEqual(expected, Buffer.from(match[1], "hex"));
}

/** A message ready to send: the exact body and its signature. */
export interface Sealed {
  body: string;
  signature: string;
}

/**
 * Stamps `sent_at` (now) and a fresh `nonce` on the message, serialises it once and signs those
 * exact bytes. Send `body` unchanged: any re-serialisation breaks the signature.
 */
export function seal<T extends Envelope>(
  message: Unsealed<T>,
  secret: string,
  options: { now?: Date; nonce?: string } = {},
): Sealed {
  const envelope: Envelope = {
    sent_at: (options.now ?? new Date()).toISOString(),
    nonce: options.nonce ?? newNonce(),
  };
  const body = JSON.stringify({ ...message, ...envelope });
  return { body, signature: sign(secret, body) };
}

/** Whether `value` is a protocol v2 `sent_at`: ISO 8601 in UTC, a real instant. */
export function isUtcInstant(value: unknown): value is string {
  if (typeof value !== "string" || !UTC_INSTANT.test(value)) return false;
  const ms = Date.parse(value);
  // The calendar fields must survive a round trip: no 30 February, no 25:00.
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === value.slice(0, 19);
}

/** Whether `value` is a protocol v2 nonce. */
export function isNonce(value: unknown): value is string {
  return typeof value === "string" && NONCE.test(value);
}

/**
 * `undefined` when `sentAt` is within `maxSkewSeconds` of `acceptedAt` (the time the queue accepted
 * the message, or the time an HTTPS request arrived), in either direction; otherwise why not.
 */
export function staleness(
  sentAt: string,
  acceptedAt: Date,
  maxSkewSeconds = DEFAULT_MAX_SKEW_SECONDS,
): string | undefined {
  const skewMs = Date.parse(sentAt) - acceptedAt.getTime();
  if (Math.abs(skewMs) <= maxSkewSeconds * 1000) return undefined;
  const seconds = Math.round(Math.abs(skewMs) / 1000);
  return skewMs < 0
    ? `sent_at ${sentAt} is ${seconds} s before the queue accepted it (at most ${maxSkewSeconds} s)`
    : `sent_at ${sentAt} is ${seconds} s after the queue accepted it (at most ${maxSkewSeconds} s)`;
}

/**
 * Nonces seen from one sender, kept long enough that a prompt replay is either remembered here or
 * already stale: an entry lives `2 × maxSkewSeconds` past the later of its `sent_at` and the time it
 * was seen. It is in memory only: a restart forgets it. Memory is bounded by the sender's message rate
 * over that window.
 */
export class NonceMemory {
  /** nonce → when it may be forgotten, and the delivery (SQS message id) that claimed it, if known. */
  readonly #seen = new Map<string, { expiresAt: number; deliveryId: string | undefined }>();
  readonly #keepMs: number;

  constructor(maxSkewSeconds = DEFAULT_MAX_SKEW_SECONDS) {
    this.#keepMs = 2 * maxSkewSeconds * 1000;
  }

  /**
   * Records the nonce; `false` when it was already seen (a replay). A `deliveryId` (the SQS message
   * id) lets the same queue message come back: SQS delivers at least once, and a redelivery is not a
   * replay. A re-sent copy is a new message with a new id.
   */
  remember(nonce: string, sentAt: string, now: Date = new Date(), deliveryId?: string): boolean {
    this.#evict(now.getTime());
    const seen = this.#seen.get(nonce);
    if (seen) return deliveryId !== undefined && seen.deliveryId === deliveryId;
    // Kept from the later of sent_at and now: a backlog processed late still remembers its nonces.
    const from = Math.max(Date.parse(sentAt), now.getTime());
    this.#seen.set(nonce, { expiresAt: from + this.#keepMs, deliveryId });
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  /**
   * Drops expired entries from the oldest end. Entries arrive roughly in `sent_at` order, so stopping
   * at the first live one keeps this O(1) amortised; an expired entry kept a little longer is harmless.
   */
  #evict(nowMs: number): void {
    for (const [nonce, { expiresAt }] of this.#seen) {
      if (expiresAt >= nowMs) return;
      this.#seen.delete(nonce);
    }
  }
}

/** Why a received marketplace message was refused. */
export type RefusalReason = "BAD_SIGNATURE" | "MALFORMED" | "STALE" | "REPLAY" | "MISADDRESSED";

export type Verified =
  | { ok: true; message: MarketplaceMessage }
  | { ok: false; reason: RefusalReason; detail: string };

const isString = (value: unknown): value is string => typeof value === "string" && value.length > 0;
const isNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value);

/** The marketplace message in `json`, or what is wrong with it. Unknown extra fields are allowed. */
export function parseMarketplaceMessage(json: unknown): MarketplaceMessage | string {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "not a JSON object";
  const m = json as Record<string, unknown>;
  if (!isUtcInstant(m.sent_at)) return "sent_at is not an ISO 8601 UTC instant";
  if (!isNonce(m.nonce)) return "nonce is not 16-128 characters of A-Z a-z 0-9 . _ ~ : -";
  if (!isString(m.task_id) || !isString(m.agent_id)) return "task_id and agent_id must be strings";
  switch (m.type) {
    case "BID_REQUEST":
      if (!isString(m.title) || !isString(m.deadline) || !isString(m.reply_to)) {
        return "BID_REQUEST needs title, deadline and reply_to";
      }
      if (!Array.isArray(m.capabilities) || !m.capabilities.every(isString)) {
        return "BID_REQUEST capabilities must be strings";
      }
      if (m.budget !== null && !isNumber(m.budget)) return "BID_REQUEST budget must be a number or null";
      return m as unknown as BidRequest;
    case "AWARD":
      if (!isNumber(m.bid_amount) || !isString(m.awarded_at) || !isString(m.reply_to)) {
        return "AWARD needs bid_amount, awarded_at and reply_to";
      }
      return m as unknown as AwardNotice;
    case "REJECTION":
      if (!isString(m.reason)) return "REJECTION needs a reason";
      return m as unknown as RejectionNotice;
    default:
      return `unknown message type ${JSON.stringify(m.type)?.slice(0, 40)}`;
  }
}

export interface VerifyOptions {
  /** This agent's id: a message addressed to another agent is refused. */
  agentId: string;
  /** The current bid secret first; during a rotation also the previous one. */
  secrets: readonly string[];
  /** When the queue accepted the message (SQS `SentTimestamp`), or when the HTTPS request arrived. */
  acceptedAt: Date;
  /** Nonces already seen from the marketplace. */
  nonces: NonceMemory;
  /** The SQS message id: a redelivery of the same message is not a replay. */
  deliveryId?: string;
  maxSkewSeconds?: number;
  now?: Date;
}

/**
 * Verifies a message from the marketplace, in this order: signature (with any of `secrets`), shape,
 * recipient, freshness (STALE), nonce (REPLAY). Only a message that passes every check is returned.
 */
export function verifyMarketplaceMessage(
  body: string,
  signature: string | undefined,
  options: VerifyOptions,
): Verified {
  if (!options.secrets.some((secret) => verifySignature(secret, body, signature))) {
    return { ok: false, reason: "BAD_SIGNATURE", detail: `no valid ${SIGNATURE_ATTRIBUTE} for this agent` };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: "MALFORMED", detail: "body is not JSON" };
  }
  const message = parseMarketplaceMessage(json);
  if (typeof message === "string") return { ok: false, reason: "MALFORMED", detail: message };
  if (message.agent_id !== options.agentId) {
    return { ok: false, reason: "MISADDRESSED", detail: `addressed to agent ${message.agent_id}` };
  }
  const stale = staleness(message.sent_at, options.acceptedAt, options.maxSkewSeconds);
  if (stale) return { ok: false, reason: "STALE", detail: stale };
  if (!options.nonces.remember(message.nonce, message.sent_at, options.now, options.deliveryId)) {
    return { ok: false, reason: "REPLAY", detail: `nonce ${message.nonce} was already used` };
  }
  return { ok: true, message };
}
