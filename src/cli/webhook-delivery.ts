import { signWebhookBody } from "../adapters/github/signature.js";
import { GITHUB_DELIVERY_ID_PATTERN, GITHUB_EVENT_PATTERN } from "../domain/webhooks/github-headers.js";
import { UsageError } from "./errors.js";

/** The webhook receiver's route, under the API's base URL. */
export const WEBHOOK_PATH = "/webhooks/github";

/**
 * The headers GitHub sends with a delivery of `body`: the event, the delivery id, the JSON content
 * type and `X-Hub-Signature-256` over the exact bytes. The event and delivery id must pass the
 * receiver's own patterns, else it is a usage error here rather than a 400 there.
 */
export function webhookHeaders(
  secret: string,
  body: Uint8Array,
  event: string,
  deliveryId: string,
): Record<string, string> {
  if (!GITHUB_EVENT_PATTERN.test(event)) {
    throw new UsageError(
      `--event must be a GitHub event name such as issues, not '${event}'`,
      "webhook send",
    );
  }
  if (!GITHUB_DELIVERY_ID_PATTERN.test(deliveryId)) {
    throw new UsageError(
      `--delivery must be 1-128 letters, digits or '-' (a GUID, as GitHub sends), not '${deliveryId}'`,
      "webhook send",
    );
  }
  return {
    "content-type": "application/json",
    "user-agent": "agentforge-cli",
    "x-github-event": event,
    "x-github-delivery": deliveryId,
    "x-hub-signature-256": signWebhookBody(secret, body),
  };
}
