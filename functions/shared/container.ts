import { createSecretResolver } from "../../src/adapters/secrets.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { createSqsIntakeQueue } from "../../src/adapters/sqs/intake-queue.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createWebhookReceiver, type WebhookReceiver } from "../../src/http/webhook-receiver.js";
import { createObservability } from "../../src/observability.js";

/** Everything the webhook receiver's handler needs, built once per Lambda container. */
export interface ReceiverDeps {
  receive: WebhookReceiver["receive"];
}

/**
 * Wires the receiver from configuration. The secret's value is not read here but on the first signed
 * request (and then cached), so a Secrets Manager hiccup answers 503 instead of failing the cold start.
 */
export function buildReceiverDeps(config: Config): ReceiverDeps {
  // Missing configuration fails the cold start loudly (Lambda error metric) rather than every request.
  if (!config.intakeQueueUrl) throw new Error("INTAKE_QUEUE_URL is not configured");
  if (!config.webhookSecret) {
    throw new Error("GITHUB_WEBHOOK_SECRET or GITHUB_WEBHOOK_SECRET_ARN must be configured");
  }
  const { logger, metrics } = createObservability({ persistentKeys: { function: "webhook-receiver" } });
  const client = createSqsClient({
    region: config.region,
    requireLocal: config.local,
    ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
  });
  const receiver = createWebhookReceiver({
    secret: createSecretResolver({
      name: "GitHub webhook secret",
      source: config.webhookSecret,
      region: config.region,
    }),
    queue: createSqsIntakeQueue({ client, queueUrl: config.intakeQueueUrl }),
    maxBodyBytes: config.webhookMaxBodyBytes,
    logger,
    metrics,
  });
  return { receive: (event, context) => receiver.receive(event, context) };
}

let receiverDeps: Promise<ReceiverDeps> | undefined;

/** The receiver's dependencies, built on first use and cached for the container's life. */
export function getReceiverDeps(): Promise<ReceiverDeps> {
  receiverDeps ??= Promise.resolve()
    .then(() => buildReceiverDeps(loadConfig()))
    .catch((error: unknown) => {
      receiverDeps = undefined;
      throw error;
    });
  return receiverDeps;
}
