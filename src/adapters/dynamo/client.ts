import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { isLoopbackEndpoint } from "../loopback.js";

// Re-exported for the callers that check DynamoDB endpoints.
export { isLoopbackEndpoint } from "../loopback.js";

export interface DynamoClientOptions {
  /** Custom endpoint (DynamoDB Local); omitted on AWS. */
  endpoint?: string;
  region?: string;
  /** Refuse any endpoint that is not on the loopback interface (tests, local stack). */
  requireLocal?: boolean;
  /** SDK attempts per request, the first included; the SDK default (3) when omitted. */
  maxAttempts?: number;
}

/** Fake credentials for DynamoDB Local; it ignores them when started with `-sharedDb`. */
const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

/** Builds the low-level client. With an endpoint it talks to DynamoDB Local using fake credentials. */
export function createDynamoClient(options: DynamoClientOptions = {}): DynamoDBClient {
  const { endpoint, region, requireLocal = false, maxAttempts } = options;
  if (requireLocal && (!endpoint || !isLoopbackEndpoint(endpoint))) {
    throw new Error(
      `Refusing non-local DynamoDB endpoint ${endpoint ?? "(AWS default)"}: only loopback is allowed here`,
    );
  }
  return new DynamoDBClient({
    region: region ?? (endpoint ? "local" : undefined),
    ...(endpoint ? { endpoint, credentials: LOCAL_CREDENTIALS } : {}),
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
  });
}

/** Document client with the marshalling options the repositories rely on. */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertEmptyValues: false },
  });
}
