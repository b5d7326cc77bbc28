import type { SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { backoffDelay } from "../lib/retry.js";
import { createSqsEventSource } from "./sqs-event-source.js";

/**
 * Idle wait between empty receives. Short polling, not long polling: the emulator's long poll can
 * hand one message to two waiting receives (seen with concurrent pollers), which SQS never does.
 */
const IDLE_POLL_MS = 200;
const ERROR_BACKOFF_MS = { base: 250, max: 10_000 };

export interface QueuePollerOptions {
  client: SQSClient;
  queueUrl: string;
  region: string;
  batchSize: number;
  /** Parallel receive-invoke-delete loops (Lambda scales pollers with the queue; locally a few suffice). */
  concurrency: number;
  handler: (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;
  onError: (error: unknown) => void;
}

export interface QueuePoller {
  /** Ends the loops; resolves once every batch in flight has been handled and deleted or left. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * A Lambda SQS event source mapping that runs until stopped: `concurrency` loops, each long-polling
 * the queue and handing batches of up to `batchSize` to the handler. What the handler reports as
 * failed (or everything, when it throws) stays on the queue, so the queue's visibility timeout and
 * redrive policy (→ DLQ after maxReceiveCount) apply exactly as on AWS.
 */
export function startQueuePoller(options: QueuePollerOptions): QueuePoller {
  const source = createSqsEventSource({
    client: options.client,
    queueUrl: options.queueUrl,
    handler: options.handler,
    batchSize: options.batchSize,
    region: options.region,
  });
  let stopping = false;
  const loop = async () => {
    let failures = 0;
    while (!stopping) {
      try {
        const { received } = await source.pollOnce(0);
        failures = 0;
        if (received === 0) await sleep(IDLE_POLL_MS);
      } catch (error) {
        // The queue itself failed (emulator gone, throttled): back off, keep polling.
        if (stopping) return;
        options.onError(error);
        failures += 1;
        await sleep(
          backoffDelay(failures + 1, {
            baseDelayMs: ERROR_BACKOFF_MS.base,
            maxDelayMs: ERROR_BACKOFF_MS.max,
            jitter: "none",
          }),
        );
      }
    }
  };
  const loops = Array.from({ length: Math.max(1, options.concurrency) }, loop);
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}
