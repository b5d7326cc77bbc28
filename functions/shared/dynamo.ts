import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import type { Config } from "../../src/config.js";

/**
 * The container's SDK clients are built once per configuration (a Lambda loads its configuration
 * once, so once per container) and on first use. Each client has a module of its own, so a bundle
 * carries only the clients its function reaches: the authorizer has no SQS client, the receiver no
 * DynamoDB client.
 */
const documentClients = new WeakMap<Config, DynamoDBDocumentClient>();

/** The DocumentClient over the marketplace table's DynamoDB endpoint. */
export function dynamoClient(config: Config): DynamoDBDocumentClient {
  let client = documentClients.get(config);
  if (!client) {
    client = createDocumentClient(
      createDynamoClient({
        region: config.region,
        requireLocal: config.local,
        ...(config.dynamoEndpoint ? { endpoint: config.dynamoEndpoint } : {}),
      }),
    );
    documentClients.set(config, client);
  }
  return client;
}
