import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import * as z from "zod";
import type { AwardService, SweepSummary } from "../domain/bidding/award.service.js";
import { isoTimestampSchema } from "../domain/common.schema.js";
import { runWithinInvocation } from "../lib/deadline.js";
import { SWEEPER_METRICS } from "./award-metrics.js";

export { SWEEPER_METRICS };

/**
 * The schedule's input. EventBridge Scheduler is configured to send
 * `{"scheduled_time":"<aws.scheduler.scheduled-time>"}`; an EventBridge rule sends `time`. Nothing in
 * it is needed to sweep, so an unexpected shape is logged and the sweep runs anyway.
 */
const sweepEventSchema = z.looseObject({
  scheduled_time: isoTimestampSchema.optional(),
  time: isoTimestampSchema.optional(),
});

export interface AwardSweeperOptions {
  awards: Pick<AwardService, "sweep">;
  logger: Logger;
  metrics: Metrics;
  /** Stop taking new pages when less than this much of the invocation's time remains (default 15 s). */
  reserveMs?: number;
  /** Upper bound on tasks per invocation (default 200). */
  maxTasks?: number;
  now?: () => Date;
}

/**
 * The scheduled award job: awards every open task whose deadline has passed, via the sparse GSI3
 * (`OPEN_TASK#<shard>` / `<deadline>#<url>`), every shard per page, earliest deadline first. A
 * window exists only while its task is OPEN or CLOSING, so tasks held for approval never crowd it.
 *
 * On AWS one EventBridge Scheduler schedule invokes it every minute, rather than one schedule per task
 * at its deadline. Trade-off: an award lands up to a minute (plus the run) after the deadline instead
 * of on it, and an idle minute costs one empty Query per bid-window shard; in exchange there is one code path for every
 * award (the same one the local stack and the tests run), no schedule to create with each task and no
 * per-task schedule to clean up after an early award, and a run that fails or is throttled is simply
 * caught up by the next one, since due tasks stay in the index until awarded. Work per run is bounded
 * (`maxTasks`, remaining time); what is left is picked up a minute later.
 */
export function createAwardSweeper({
  awards,
  logger,
  metrics,
  reserveMs = 15_000,
  maxTasks = 200,
  now = () => new Date(),
}: AwardSweeperOptions) {
  return async (event: unknown, context?: Context): Promise<SweepSummary> => {
    const startedAt = now();
    const parsed = sweepEventSchema.safeParse(event ?? {});
    if (!parsed.success) logger.warn("Unexpected schedule input; sweeping anyway");
    const scheduled = parsed.success ? (parsed.data.scheduled_time ?? parsed.data.time) : undefined;
    try {
      if (scheduled) {
        const lagSec = Math.max(0, (startedAt.getTime() - Date.parse(scheduled)) / 1000);
        metrics.addMetric(SWEEPER_METRICS.lag, MetricUnit.Seconds, lagSec);
      }
      // Notice retries (and every other retry loop beneath) also stop at the invocation's deadline.
      const summary = await runWithinInvocation(context, () =>
        awards.sweep(startedAt, {
          maxTasks,
          hasTime: () => !context || context.getRemainingTimeInMillis() > reserveMs,
        }),
      );
      metrics.addMetric(SWEEPER_METRICS.awarded, MetricUnit.Count, summary.awarded);
      metrics.addMetric(SWEEPER_METRICS.pendingApproval, MetricUnit.Count, summary.pendingApproval);
      metrics.addMetric(SWEEPER_METRICS.noBids, MetricUnit.Count, summary.noBids);
      metrics.addMetric(SWEEPER_METRICS.failed, MetricUnit.Count, summary.failed);
      logger.info("Award sweep done", { ...summary, now: startedAt.toISOString() });
      return summary;
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}
