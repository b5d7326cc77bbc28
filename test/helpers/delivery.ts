import type { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import type { SQSEvent } from "aws-lambda";
import { createEndpointCircuitRepository } from "../../src/adapters/dynamo/endpoint-circuit.repository.js";
import type { MarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createSqsDeliveryQueue } from "../../src/adapters/sqs/delivery-queue.js";
import type { DeliveryQueue } from "../../src/domain/bidding/delivery.js";
import {
  createDeliveryService,
  type DeliveryOutcome,
  type DeliveryServiceOptions,
} from "../../src/domain/bidding/delivery.service.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import { createDeliveryBatchHandler } from "../../src/workers/delivery-worker.js";
import type { TestQueue } from "./sqs.js";

const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

export interface TestDelivery {
  /** The real delivery queue adapter, for the dispatch service. */
  deliveries: DeliveryQueue;
  /** Runs the delivery worker over the queue until a poll receives nothing; every outcome, in order. */
  deliverAll(): Promise<DeliveryOutcome[]>;
}

/**
 * The delivery path of the deployed stack, in process: the SQS delivery queue (a test queue on the
 * emulator), the delivery service with the endpoint circuit on the test table, and the delivery
 * worker's batch handler run as its event source mapping would run it.
 */
export function useTestDelivery(
  queue: TestQueue,
  service: MarketplaceService,
  options: Omit<DeliveryServiceOptions, "circuit"> & Partial<Pick<DeliveryServiceOptions, "circuit">>,
): TestDelivery {
  const outcomes: DeliveryOutcome[] = [];
  const inner = createDeliveryService({
    circuit: createEndpointCircuitRepository({ service }),
    ...options,
  });
  const handle = createDeliveryBatchHandler({
    deliveries: {
      deliver: async (job) => {
        const outcome = await inner.deliver(job);
        outcomes.push(outcome);
        return outcome;
      },
    },
    logger: quiet,
    metrics: new Metrics({ namespace: "test" }),
  });
  const source = createSqsEventSource({
    client: queue.client,
    queueUrl: queue.queueUrl,
    handler: (event: SQSEvent) => handle(event),
  });
  return {
    deliveries: createSqsDeliveryQueue({ client: queue.client, queueUrl: queue.queueUrl }),
    async deliverAll() {
      const start = outcomes.length;
      // The emulator can answer an immediate short poll empty just after a send: the first poll
      // waits up to a second (it returns at once when something is there).
      await source.pollOnce(1);
      await source.drain();
      return outcomes.slice(start);
    },
  };
}
