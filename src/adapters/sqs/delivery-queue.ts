import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DeliveryJob, DeliveryQueue } from "../../domain/bidding/delivery.js";
import { sendInBatches } from "./batch-send.js";

export interface SqsDeliveryQueueOptions {
  client: SQSClient;
  /** Jobs for agents with SQS endpoints (and every job when `httpsQueueUrl` is not given). */
  queueUrl: string;
  /**
   * Jobs for agents with HTTPS endpoints: a queue with lanes of its own, so endpoints that hold a
   * lane for their timeouts never delay an SQS agent's delivery.
   */
  httpsQueueUrl?: string;
}

/** A job as an SQS body: U+FFFE and U+FFFF (which SQS refuses) as JSON escapes, so a title quoting them still queues. */
function body(job: DeliveryJob): string {
  return JSON.stringify(job).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** The delivery queues on SQS: one message per job, 10 per SendMessageBatch, routed by endpoint kind. */
export function createSqsDeliveryQueue({
  client,
  queueUrl,
  httpsQueueUrl,
}: SqsDeliveryQueueOptions): DeliveryQueue {
  const send = (url: string, jobs: readonly DeliveryJob[]) =>
    jobs.length === 0
      ? Promise.resolve()
      : sendInBatches(
          client,
          url,
          jobs.map((job, index) => ({ Id: String(index), MessageBody: body(job) })),
        );
  return {
    async enqueue(jobs) {
      if (!httpsQueueUrl) return send(queueUrl, jobs);
      const https = jobs.filter((job) => job.endpoint_kind === "https");
      const sqs = jobs.filter((job) => job.endpoint_kind !== "https");
      // Both sends run to the end before a failure is reported: a retry re-enqueues only what is missing.
      const results = await Promise.allSettled([send(queueUrl, sqs), send(httpsQueueUrl, https)]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    },
  };
}
