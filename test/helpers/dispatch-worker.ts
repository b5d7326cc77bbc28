import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { buildDispatchWorker } from "../../functions/shared/container.js";
import type { Config } from "../../src/config.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import type { TestQueue } from "./sqs.js";

/** One batch the dispatch worker was given (the parsed message bodies) and what it answered. */
export interface DispatchBatch {
  bodies: unknown[];
  response: SQSBatchResponse;
}

/**
 * Runs the deployed dispatch worker over the dispatch queue as its event source mapping would, for
 * two polls: returns each batch it handled and what each poll received and failed, so a test can
 * assert exactly which messages it got and that nothing failed or was left on the queue.
 */
export async function runDispatchWorker(config: Config, queue: TestQueue) {
  const worker = buildDispatchWorker(config);
  const batches: DispatchBatch[] = [];
  const source = createSqsEventSource({
    client: queue.client,
    queueUrl: queue.queueUrl,
    handler: async (event: SQSEvent) => {
      const response = await worker.handle(event);
      batches.push({ bodies: event.Records.map((r) => JSON.parse(r.body)), response });
      return response;
    },
  });
  const polled = [await source.pollOnce(), await source.pollOnce()];
  return { batches, polled };
}
