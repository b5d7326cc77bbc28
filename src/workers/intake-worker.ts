import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import { type IntakeMessage, intakeMessageSchema } from "../domain/webhooks/intake-message.js";
import type { Effect, WebhookService } from "../domain/webhooks/webhook.service.js";
import { createInOrderSqsBatchHandler } from "./sqs-batch.js";

export const INTAKE_METRICS = {
  processed: "WebhookDeliveriesProcessed",
  duplicate: "WebhookDeliveriesDuplicate",
  ignored: "WebhookDeliveriesIgnored",
  rejected: "IntakeMessagesRejected",
  outcomes: "OutcomesRecorded",
  tasks: "TasksCreated",
} as const;

export interface IntakeWorkerOptions {
  webhooks: WebhookService;
  logger: Logger;
  metrics: Metrics;
}

function parseMessage(body: string): IntakeMessage | string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return "body is not JSON";
  }
  const result = intakeMessageSchema.safeParse(json);
  if (result.success) return result.data;
  return result.error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
    .join("; ");
}

function describe(effect: Effect): Record<string, unknown> {
  if (effect.kind === "outcome_recorded") {
    const { entry } = effect;
    return {
      effect: effect.kind,
      task_id: effect.task_id,
      status: entry.status,
      quality_score: entry.quality_score,
      winning_agent_id: entry.winning_agent_id,
      completion_timestamp: entry.completion_timestamp,
      ...(effect.supersedes ? { supersedes: effect.supersedes } : {}),
    };
  }
  return { effect: effect.kind, ...effect };
}

/**
 * Handles one intake queue record. A message that is not a valid intake message, or a delivery
 * whose payload is malformed, is permanent: it is logged and acknowledged, never retried. Anything
 * thrown is transient (DynamoDB throttling, an outage) and fails only this record, so SQS retries it
 * and, after the queue's maxReceiveCount, moves it to the DLQ.
 */
export function createIntakeRecordHandler({ webhooks, logger, metrics }: IntakeWorkerOptions) {
  // Logged once per container, at cold start, so an open deployment is visible in its logs.
  if (webhooks.acceptsEveryRepository) {
    logger.warn(
      "GITHUB_ALLOWED_REPOSITORIES is not set: deliveries from every repository whose webhook has the secret can create tasks and give evidence",
    );
  }

  function report(effects: Effect[], keys: Record<string, string>): void {
    for (const effect of effects) {
      if (effect.kind === "outcome_recorded") metrics.addMetric(INTAKE_METRICS.outcomes, MetricUnit.Count, 1);
      if (effect.kind === "task_created" && effect.created)
        metrics.addMetric(INTAKE_METRICS.tasks, MetricUnit.Count, 1);
      logger.info(effect.kind === "ignored" ? "Delivery needs no action" : "Delivery applied", {
        ...keys,
        ...describe(effect),
      });
    }
  }

  return async (record: SQSRecord): Promise<void> => {
    const message = parseMessage(record.body);
    if (typeof message === "string") {
      logger.error("Dropping malformed intake message", { message_id: record.messageId, reason: message });
      metrics.addMetric(INTAKE_METRICS.rejected, MetricUnit.Count, 1);
      return;
    }
    const keys = { delivery_id: message.delivery_id, github_event: message.event };
    const result = await webhooks.process(message);
    switch (result.status) {
      case "duplicate":
        // duplicate_of: the same body was handled under that delivery id (a replay, or a second hook).
        logger.info(
          "Duplicate delivery acknowledged",
          result.duplicate_of ? { ...keys, duplicate_of: result.duplicate_of } : keys,
        );
        metrics.addMetric(INTAKE_METRICS.duplicate, MetricUnit.Count, 1);
        report(result.effects, keys);
        return;
      case "ignored":
        logger.info("Delivery ignored", { ...keys, reason: result.reason });
        metrics.addMetric(INTAKE_METRICS.ignored, MetricUnit.Count, 1);
        return;
      case "rejected":
        logger.warn("Delivery rejected", { ...keys, reason: result.reason });
        metrics.addMetric(INTAKE_METRICS.rejected, MetricUnit.Count, 1);
        return;
      case "processed":
        metrics.addMetric(INTAKE_METRICS.processed, MetricUnit.Count, 1);
        report(result.effects, keys);
    }
  };
}

/** The queue's batch handler: see {@link createInOrderSqsBatchHandler}. */
export function createIntakeBatchHandler(options: IntakeWorkerOptions) {
  return createInOrderSqsBatchHandler(createIntakeRecordHandler(options), options.metrics);
}
