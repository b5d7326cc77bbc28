import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { SQSRecord } from "aws-lambda";
import type { AwardService } from "../domain/bidding/award.service.js";
import { describeError } from "../domain/bidding/retry.js";
import { issueUrlProblem } from "../domain/tasks/issue-url.js";
import { SWEEPER_METRICS } from "./award-metrics.js";
import { createInOrderSqsBatchHandler } from "./sqs-batch.js";

export interface AwardWorkerOptions {
  awards: Pick<AwardService, "evaluate">;
  logger: Logger;
  metrics: Metrics;
}

function taskIdOf(body: string): string | { problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { problem: "body is not JSON" };
  }
  const taskId = (json as { task_id?: unknown } | null)?.task_id;
  const problem = issueUrlProblem(taskId);
  return problem ? { problem: `task_id: ${problem}` } : (taskId as string);
}

/**
 * One "award due" message: runs the award (`evaluate`, idempotent: a task already decided, or not
 * due, changes nothing). A malformed message is logged and acknowledged; a failed award fails the
 * record, so SQS retries it (and the deadline sweep would award the task anyway).
 */
export function createAwardRecordHandler({ awards, logger, metrics }: AwardWorkerOptions) {
  return async (record: SQSRecord): Promise<void> => {
    const taskId = taskIdOf(record.body);
    if (typeof taskId !== "string") {
      logger.error("Dropping malformed award message", {
        message_id: record.messageId,
        reason: taskId.problem,
      });
      return;
    }
    try {
      const outcome = await awards.evaluate(taskId);
      if (outcome.kind === "AWARDED") {
        metrics.addMetric(
          outcome.award.status === "AWARDED" ? SWEEPER_METRICS.awarded : SWEEPER_METRICS.pendingApproval,
          MetricUnit.Count,
          1,
        );
      } else if (outcome.kind === "NO_BIDS") metrics.addMetric(SWEEPER_METRICS.noBids, MetricUnit.Count, 1);
      logger.info("Award run", { task_id: taskId, outcome: outcome.kind });
    } catch (error) {
      metrics.addMetric(SWEEPER_METRICS.failed, MetricUnit.Count, 1);
      logger.warn("Award failed; SQS retries it", { task_id: taskId, error: describeError(error) });
      throw error;
    }
  };
}

/** The award queue's batch handler (a FIFO queue: one task's messages in order, tasks in parallel groups). */
export function createAwardWorkerBatchHandler(options: AwardWorkerOptions) {
  return createInOrderSqsBatchHandler(createAwardRecordHandler(options), options.metrics);
}
