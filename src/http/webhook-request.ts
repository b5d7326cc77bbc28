import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { GITHUB_DELIVERY_ID_PATTERN, GITHUB_EVENT_PATTERN } from "../domain/webhooks/github-headers.js";
import { HttpError } from "./http-error.js";

const CONTENT_LENGTH_PATTERN = /^\d{1,15}$/;

const MiB = 1024 * 1024;

/**
 * Default for the largest accepted webhook body, in decoded bytes. GitHub caps payloads at 25 MB and
 * does not redeliver a failed delivery on its own, so a 413 loses a real event. 1 MiB covers the
 * deliveries of the events the worker handles: an issue, pull request, review or check text is at most
 * 65,536 characters (4 UTF-8 bytes at most each), a delivery carries at most three of them (a review's
 * body, its pull request's body and, on `edited`, the previous text), and the repository and user
 * objects add tens of kilobytes. The queued message is reduced separately (see `slimPayload`), so this
 * limit is about what the receiver reads, not what it queues.
 */
export const DEFAULT_WEBHOOK_MAX_BODY_BYTES = MiB;

/**
 * The largest body limit the receiver can honour. The body reaches it inside a synchronous Lambda
 * invocation, whose request payload is capped at 6 MB (API Gateway's HTTP API allows 10 MB but
 * Lambda's cap applies first). A binary body arrives base64-encoded (4/3 larger) next to the headers
 * and request context, so 4 MiB (5.6 MB encoded) is the most that always fits.
 */
export const MAX_WEBHOOK_BODY_BYTES = 4 * MiB;

/** Header names GitHub's deliveries are read from, lowercased. */
export const WEBHOOK_HEADERS = {
  signature: "x-hub-signature-256",
  event: "x-github-event",
  delivery: "x-github-delivery",
  contentType: "content-type",
  contentLength: "content-length",
} as const;

/**
 * Header lookup by lowercased name. HTTP API v2 already lowercases names; other callers (the local
 * stack, hand-built events) may not. Two spellings of one name are joined with a comma, as API
 * Gateway joins repeated headers, so an ambiguous value fails validation instead of one winning.
 */
export function normalizeHeaders(
  headers: Record<string, string | undefined> | undefined,
): Map<string, string> {
  const normalized = new Map<string, string>();
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const previous = normalized.get(key);
    normalized.set(key, previous === undefined ? value : `${previous},${value}`);
  }
  return normalized;
}

/** 405 unless the request is a POST. */
export function assertPost(event: APIGatewayProxyEventV2): void {
  const method = event.requestContext?.http?.method;
  if (method?.toUpperCase() !== "POST") {
    throw new HttpError(405, "METHOD_NOT_ALLOWED", "Only POST is accepted here", { allow: "POST" });
  }
}

function tooLarge(maxBodyBytes: number): HttpError {
  return new HttpError(413, "PAYLOAD_TOO_LARGE", `Body exceeds ${maxBodyBytes} bytes`);
}

/** 413 when the declared `Content-Length` is over the limit; 400 when it is not a number. */
export function assertDeclaredLength(headers: Map<string, string>, maxBodyBytes: number): void {
  const declared = headers.get(WEBHOOK_HEADERS.contentLength)?.trim();
  if (declared === undefined) return;
  if (!CONTENT_LENGTH_PATTERN.test(declared)) {
    throw new HttpError(400, "INVALID_HEADER", "Content-Length must be a non-negative integer");
  }
  if (Number(declared) > maxBodyBytes) throw tooLarge(maxBodyBytes);
}

/**
 * The raw body bytes exactly as GitHub sent (and signed) them, decoding base64 when API Gateway
 * encoded the body. 413 when the decoded size is over the limit.
 */
export function decodeBody(event: APIGatewayProxyEventV2, maxBodyBytes: number): Buffer {
  const body = event.body ?? "";
  if (!event.isBase64Encoded) {
    // byteLength first, so an oversized text body is refused without being copied.
    if (Buffer.byteLength(body, "utf8") > maxBodyBytes) throw tooLarge(maxBodyBytes);
    return Buffer.from(body, "utf8");
  }
  // Lambda caps the event at 6 MB, so decoding before measuring costs little and measures exactly.
  const bytes = Buffer.from(body, "base64");
  if (bytes.length > maxBodyBytes) throw tooLarge(maxBodyBytes);
  return bytes;
}

/** 415 unless the body is declared as `application/json` (GitHub's hook must use that content type). */
export function assertJsonContentType(headers: Map<string, string>): void {
  const contentType = headers.get(WEBHOOK_HEADERS.contentType);
  const mediaType = contentType?.split(";")[0]?.trim().toLowerCase();
  if (mediaType === "application/json") return;
  const hint =
    mediaType === "application/x-www-form-urlencoded"
      ? "; set the GitHub webhook's content type to application/json"
      : "";
  throw new HttpError(415, "UNSUPPORTED_MEDIA_TYPE", `Content-Type must be application/json${hint}`);
}

function requiredHeader(headers: Map<string, string>, name: string, pattern: RegExp, label: string): string {
  const value = headers.get(name);
  if (value === undefined || value === "") {
    throw new HttpError(400, "MISSING_HEADER", `Missing ${label} header`);
  }
  if (!pattern.test(value)) throw new HttpError(400, "INVALID_HEADER", `Invalid ${label} header`);
  return value;
}

/** The validated `X-GitHub-Event` and `X-GitHub-Delivery` values; 400 when missing or malformed. */
export function readDeliveryHeaders(headers: Map<string, string>): { event: string; deliveryId: string } {
  return {
    event: requiredHeader(headers, WEBHOOK_HEADERS.event, GITHUB_EVENT_PATTERN, "X-GitHub-Event"),
    deliveryId: requiredHeader(
      headers,
      WEBHOOK_HEADERS.delivery,
      GITHUB_DELIVERY_ID_PATTERN,
      "X-GitHub-Delivery",
    ),
  };
}

/**
 * The event and delivery id for log correlation, each only when it is well-formed, so a rejected
 * request can still be matched with GitHub's delivery log without echoing arbitrary header text.
 */
export function safeDeliveryKeys(headers: Map<string, string>): { event?: string; delivery_id?: string } {
  const event = headers.get(WEBHOOK_HEADERS.event);
  const deliveryId = headers.get(WEBHOOK_HEADERS.delivery);
  return {
    ...(event && GITHUB_EVENT_PATTERN.test(event) ? { event } : {}),
    ...(deliveryId && GITHUB_DELIVERY_ID_PATTERN.test(deliveryId) ? { delivery_id: deliveryId } : {}),
  };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses the body as a JSON object. 400 for invalid UTF-8, invalid JSON, or JSON that is not an
 * object. The parser's own message is dropped because it quotes the body.
 */
export function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch {
    throw new HttpError(400, "MALFORMED_JSON", "Body is not valid UTF-8 JSON");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, "INVALID_PAYLOAD", "Body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}
