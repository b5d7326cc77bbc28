import type { SQSClient } from "@aws-sdk/client-sqs";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import type { Config } from "../../src/config.js";

/** SQS clients, once per configuration and region (see ./dynamo.ts). */
const clients = new WeakMap<Config, Map<string, SQSClient>>();

function clientFor(config: Config, region: string): SQSClient {
  let byRegion = clients.get(config);
  if (!byRegion) {
    byRegion = new Map();
    clients.set(config, byRegion);
  }
  let client = byRegion.get(region);
  if (!client) {
    client =
      region === config.region
        ? createSqsClient({
            region: config.region,
            requireLocal: config.local,
            ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
          })
        : createSqsClient({ region });
    byRegion.set(region, client);
  }
  return client;
}

/** SQS in this deployment's region (locally: the emulator). */
export function sqsClient(config: Config): SQSClient {
  return clientFor(config, config.region);
}

/**
 * SQS in another region, for agents' queues that live anywhere; undefined locally, where every
 * queue is on the emulator.
 */
export function sqsClientForRegion(config: Config): ((region: string) => SQSClient) | undefined {
  return config.sqsEndpoint ? undefined : (region) => clientFor(config, region);
}
