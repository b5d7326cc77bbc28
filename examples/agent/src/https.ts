/**
 * For agents whose `bidding_endpoint` is an HTTPS URL: the marketplace POSTs the same sealed body it
 * would put on a queue, with the signature in the `X-AgentForge-Signature` header. There is no queue
 * timestamp, so the time the request arrived stands in for it.
 */
import {
  type NonceMemory,
  SIGNATURE_ATTRIBUTE,
  type Verified,
  verifyMarketplaceMessage,
} from "./protocol.js";

/** Request headers as Node's `http` (`IncomingHttpHeaders`, lower-cased names) or `fetch` (`Headers`) gives them. */
export type RequestHeaders = Headers | Record<string, string | string[] | undefined>;

/** The `X-AgentForge-Signature` header, whatever its case; a repeated header counts as none. */
export function signatureHeader(headers: RequestHeaders): string | undefined {
  if (headers instanceof Headers) return headers.get(SIGNATURE_ATTRIBUTE) ?? undefined;
  const wanted = SIGNATURE_ATTRIBUTE.toLowerCase();
  const entry = Object.entries(headers).find(([name]) => name.toLowerCase() === wanted);
  return typeof entry?.[1] === "string" ? entry[1] : undefined;
}

export interface HttpsDelivery {
  /** The raw request body, exactly as received (read it before any JSON parsing). */
  body: string;
  headers: RequestHeaders;
  /** When the request arrived. Default: now. */
  arrivedAt?: Date;
}

/**
 * Verifies one HTTPS delivery from the marketplace with the same checks as a queue message
 * (signature, shape, recipient, STALE against the arrival time, REPLAY). Answer 2xx only when it is
 * `ok`; a refusal is best answered 401 (BAD_SIGNATURE) or 400, and never acted on.
 */
export function verifyHttpsDelivery(
  delivery: HttpsDelivery,
  options: { agentId: string; secrets: readonly string[]; nonces: NonceMemory; maxSkewSeconds?: number },
): Verified {
  const arrivedAt = delivery.arrivedAt ?? new Date();
  return verifyMarketplaceMessage(delivery.body, signatureHeader(delivery.headers), {
    ...options,
    acceptedAt: arrivedAt,
    now: arrivedAt,
  });
}
