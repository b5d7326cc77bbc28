import { createHash } from "node:crypto";
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { verifyWebhookSignature } from "../adapters/github/signature.js";
import type { IntakeMessage } from "../domain/webhooks/intake-message.js";
import { IntakeMessageTooLargeError } from "../domain/webhooks/intake-message-too-large.js";
import { slimPayload } from "../domain/webhooks/slim-payload.js";
import type { IntakeQueue } from "../ports/intake-queue.js";
import { HttpError, httpErrorResponse } from "./http-error.js";
import { jsonResponse, responseForError } from "./responses.js";
import {
  assertDeclaredLength,
  assertJsonContentType,
  assertPost,
  decodeBody,
  MAX_WEBHOOK_BODY_BYTES,
  normalizeHeaders,
  parseJsonObject,
  readDeliveryHeaders,
  safeDeliveryKeys,
  WEBHOOK_HEADERS,
} from "./webhook-request.js";

/** Metric names; the rejected one carries a `reason` dimension holding the error code. */
export const WEBHOOK_METRICS = {
  accepted: "WebhookDeliveriesAccepted",
  rejected: "WebhookDeliveriesRejected",
  pings: "WebhookPingsReceived",
} as const;

export interface WebhookReceiverOptions {
  /** Resolves the webhook secret. Called for every signed request, so it should cache. */
  secret: () => Promise<string>;
  queue: IntakeQueue;
  /**
   * Largest accepted body, in decoded bytes (larger ones get 413); a positive integer up to
   * {@link MAX_WEBHOOK_BODY_BYTES}. What is queued is only the part the worker reads (`slimPayload`).
   */
  maxBodyBytes: number;
  logger: Logger;
  /** Flushed once per request. */
  metrics: Metrics;
  now?: () => Date;
}

/** `POST /webhooks/github`: verifies a GitHub delivery and hands it to the intake queue. */
export interface WebhookReceiver {
  /**
   * Answers 202 once the delivery is on the intake queue, 200 for `ping`, a JSON 4xx for anything
   * GitHub should not resend as is, and 503 when the queue or the secret is unreachable so the
   * delivery can be redelivered. Never throws.
   */
  receive(event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2>;
}

const unavailable = (message: string) =>
  new HttpError(503, "SERVICE_UNAVAILABLE", message, { "retry-after": "10" });

/** 413 for a delivery whose slimmed message the queue cannot take: resending it cannot help. */
const tooLargeToQueue = ({ bytes, maxBytes }: IntakeMessageTooLargeError) =>
  new HttpError(
    413,
    "PAYLOAD_TOO_LARGE",
    `Delivery needs ${bytes} bytes on the intake queue even reduced to the fields the worker reads; ` +
      `the queue takes at most ${maxBytes}`,
  );

/**
 * Builds the webhook receiver. Checks run cheapest first and nothing is parsed before the signature
 * holds: method, size, signature over the raw bytes, content type, event and delivery headers, then
 * the JSON body. The payload is then reduced to the fields the worker reads and queued with the
 * SHA-256 of the raw body.
 * @throws RangeError when `maxBodyBytes` is not a positive integer up to {@link MAX_WEBHOOK_BODY_BYTES}
 */
export function createWebhookReceiver(options: WebhookReceiverOptions): WebhookReceiver {
  const { secret, queue, maxBodyBytes, logger, metrics, now = () => new Date() } = options;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes <= 0 || maxBodyBytes > MAX_WEBHOOK_BODY_BYTES) {
    throw new RangeError(`maxBodyBytes must be an integer from 1 to ${MAX_WEBHOOK_BODY_BYTES}`);
  }

  async function verify(event: APIGatewayProxyEventV2, headers: Map<string, string>): Promise<Buffer> {
    assertPost(event);
    assertDeclaredLength(headers, maxBodyBytes);
    const body = decodeBody(event, maxBodyBytes);
    const signature = headers.get(WEBHOOK_HEADERS.signature);
    if (signature === undefined || signature === "") {
      throw new HttpError(401, "UNAUTHORIZED", "Missing X-Hub-Signature-256 header");
    }
    let key: string;
    try {
      key = await secret();
    } catch (error) {
      logger.error("Webhook secret unavailable", error as Error);
      throw unavailable("Webhook secret unavailable; retry later");
    }
    if (!verifyWebhookSignature(key, body, signature)) {
      throw new HttpError(401, "UNAUTHORIZED", "X-Hub-Signature-256 does not match the body");
    }
    return body;
  }

  async function handle(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const headers = normalizeHeaders(event.headers);
    logger.appendKeys(safeDeliveryKeys(headers));
    const body = await verify(event, headers);
    assertJsonContentType(headers);
    const { event: name, deliveryId } = readDeliveryHeaders(headers);
    const payload = parseJsonObject(body);

    if (name === "ping") {
      metrics.addMetric(WEBHOOK_METRICS.pings, MetricUnit.Count, 1);
      logger.info("Webhook ping answered");
      return jsonResponse(200, { pong: true, delivery_id: deliveryId });
    }

    const message: IntakeMessage = {
      delivery_id: deliveryId,
      event: name,
      received_at: now().toISOString(),
      // Of the exact bytes the signature covers: the worker treats the same body under another
      // delivery id (the header is not signed) as a duplicate.
      body_sha256: createHash("sha256").update(body).digest("hex"),
      payload: slimPayload(name, payload),
    };
    try {
      await queue.send(message);
    } catch (error) {
      if (error instanceof IntakeMessageTooLargeError) {
        // Permanent, and GitHub does not resend failed deliveries: the event is lost, so this is an error.
        logger.error("Delivery too large for the intake queue", {
          bytes: error.bytes,
          max_bytes: error.maxBytes,
        });
        throw tooLargeToQueue(error);
      }
      logger.error("Intake queue unavailable", error as Error);
      throw unavailable("Could not queue the delivery; retry later");
    }
    metrics.addMetric(WEBHOOK_METRICS.accepted, MetricUnit.Count, 1);
    logger.info("Webhook delivery accepted");
    return jsonResponse(202, { accepted: true, delivery_id: deliveryId });
  }

  function reject(error: unknown): APIGatewayProxyStructuredResultV2 {
    const response = error instanceof HttpError ? httpErrorResponse(error) : responseForError(error);
    const code = error instanceof HttpError ? error.code : "INTERNAL";
    metrics.addDimension("reason", code);
    metrics.addMetric(WEBHOOK_METRICS.rejected, MetricUnit.Count, 1);
    if (!(error instanceof HttpError)) {
      logger.error("Unexpected error in the webhook receiver", error as Error);
    } else if (error.statusCode < 500) {
      logger.warn("Webhook delivery rejected", { status: error.statusCode, code });
    }
    return response;
  }

  return {
    async receive(event, context) {
      if (context) logger.addContext(context);
      try {
        return await handle(event);
      } catch (error) {
        return reject(error);
      } finally {
        metrics.publishStoredMetrics();
        logger.resetKeys();
      }
    },
  };
}
