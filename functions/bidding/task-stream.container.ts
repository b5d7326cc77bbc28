import { type Config, loadConfig } from "../../src/config.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createTaskStreamEnqueuer } from "../../src/workers/task-stream.js";
import { required } from "../shared/core.js";
import { sqsClient } from "../shared/sqs.js";

/** Table stream consumer: new TASK items → `{ task_id }` messages on the dispatch queue (SQS only). */
export function buildTaskStreamEnqueuer(config: Config, queueUrl = config.dispatchQueueUrl) {
  const url = required(queueUrl, "DISPATCH_QUEUE_URL");
  const { logger, metrics } = createObservability({ persistentKeys: { function: "task-stream" } });
  return {
    logger,
    handle: createTaskStreamEnqueuer({ client: sqsClient(config), queueUrl: url, logger, metrics }),
  };
}

export const getTaskStreamEnqueuer = lazily(() => buildTaskStreamEnqueuer(loadConfig()));
