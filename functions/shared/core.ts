import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import type { Config } from "../../src/config.js";
import { lazySync } from "../../src/lib/lazy.js";

/**
 * The small shared core of every function's composition: its configuration and the SDK clients it
 * may need, each built on first use and then kept for the container's life. A function's builder
 * (`functions/<group>/<function>.container.ts`) creates one core and hands it to everything it
 * builds, so no client is made twice in a container. Nothing here imports ElectroDB, Postgres or a
 * service: those come in only through the builders that use them.
 */
export interface Core {
  readonly config: Config;
  /** The DocumentClient over the marketplace table's DynamoDB endpoint. */
  dynamo(): DynamoDBDocumentClient;
  /** SQS in this deployment's region (locally: the emulator). */
  sqs(): SQSClient;
  /** SQS in another region (agents' queues may live anywhere); undefined locally, where all is the emulator. */
  readonly sqsForRegion?: (region: string) => SQSClient;
}

export function createCore(config: Config): Core {
  const dynamo = lazySync(() =>
    createDocumentClient(
      createDynamoClient({
        region: config.region,
        requireLocal: config.local,
        ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
      }),
    ),
  );
  const sqs = lazySync(() =>
    createSqsClient({
      region: config.region,
      requireLocal: config.local,
      ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
    }),
  );
  const byRegion = new Map<string, SQSClient>();
  const sqsForRegion = (region: string): SQSClient => {
    if (region === config.region) return sqs();
    let client = byRegion.get(region);
    if (!client) {
      client = createSqsClient({ region });
      byRegion.set(region, client);
    }
    return client;
  };
  return { config, dynamo, sqs, ...(config.sqsEndpoint ? {} : { sqsForRegion }) };
}

/** Missing configuration fails the cold start loudly (the Lambda error metric), not every record. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === "") throw new Error(`${what} is not configured`);
  return value;
}
