import type { Logger } from "@aws-lambda-powertools/logger";
import { createStreamRecordReader } from "../../src/adapters/dynamo/stream-reader.js";
import { pgFailureClass } from "../../src/adapters/postgres/pg-errors.js";
import { createSqsProjectionFailureQueue } from "../../src/adapters/sqs/projection-failure-queue.js";
import type { Config } from "../../src/config.js";
import { classifyProjectionError } from "../../src/domain/governance/projection-failure.js";
import type { GovernanceProjector } from "../../src/domain/governance/projector.js";
import { createReplayService } from "../../src/domain/governance/replay.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { eventsOfRecord } from "../../src/workers/governance-stream.js";
import { sqsClient } from "./sqs.js";

/** The projector's failure store and its replay: the projector, the replay function, the local REST API. */

/** Permanent or transient, for the projector and the replay: domain errors first, then Postgres's SQLSTATEs. */
export const classifyGovernanceError = (error: unknown) => classifyProjectionError(error, [pgFailureClass]);

/** The projector's failure store (its stream failure queue), when configured. */
export function projectorFailures(config: Config) {
  const queueUrl = config.projectorFailuresQueueUrl;
  if (!queueUrl) return undefined;
  return createSqsProjectionFailureQueue({ client: sqsClient(config), queueUrl });
}

/**
 * Replay of the projector's failure store: Lambda's on-failure messages are read back from the table
 * stream. Undefined without PROJECTOR_FAILURES_QUEUE_URL.
 */
export async function buildReplayService(
  config: Config,
  services: { store: GovernanceStore; projector: GovernanceProjector },
  logger: Logger,
) {
  const failures = projectorFailures(config);
  if (!failures) return undefined;
  // The streams client only where replay runs (the replay function, or the local REST API).
  const { DynamoDBStreamsClient } = await import("@aws-sdk/client-dynamodb-streams");
  const streams = new DynamoDBStreamsClient({
    region: config.region,
    ...(config.dynamoEndpoint
      ? { endpoint: config.dynamoEndpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } }
      : {}),
  });
  return createReplayService({
    failures,
    stream: createStreamRecordReader(streams),
    projector: services.projector,
    store: services.store,
    eventsOf: eventsOfRecord,
    classify: classifyGovernanceError,
    logger,
  });
}
