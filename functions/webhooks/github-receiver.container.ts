import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import { createSqsIntakeQueue } from "../../src/adapters/sqs/intake-queue.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createWebhookReceiver } from "../../src/http/webhook-receiver.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { required } from "../shared/core.js";
import { sqsClient } from "../shared/sqs.js";

/** Everything the webhook receiver's handler needs. */
export interface ReceiverDeps {
  receive(event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2>;
}

/**
 * Wires the receiver: the signature check and the intake queue, nothing of the table. The secret is
 * not read here but on the first signed request (and then cached), so a Secrets Manager hiccup
 * answers 503 instead of failing the cold start.
 */
export function buildReceiverDeps(config: Config): ReceiverDeps {
  const queueUrl = required(config.intakeQueueUrl, "INTAKE_QUEUE_URL");
  if (!config.webhookSecret) {
    throw new Error("GITHUB_WEBHOOK_SECRET or GITHUB_WEBHOOK_SECRET_ARN must be configured");
  }
  const { logger, metrics } = createObservability({ persistentKeys: { function: "webhook-receiver" } });
  const receiver = createWebhookReceiver({
    secret: createSecretResolver({
      name: "GitHub webhook secret",
      source: config.webhookSecret,
      region: config.region,
    }),
    queue: createSqsIntakeQueue({ client: sqsClient(config), queueUrl }),
    maxBodyBytes: config.webhookMaxBodyBytes,
    logger,
    metrics,
  });
  return { receive: (event, context) => receiver.receive(event, context) };
}

/** The receiver's dependencies, built on first use and cached for the container's life. */
export const getReceiverDeps = lazily(() => buildReceiverDeps(loadConfig()));
