import { isIPv4 } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

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

const LOOPBACK_HOSTS = new Set(["localhost", "[::1]", "::1"]);

/**
 * True when `endpoint` is an http(s) URL on a loopback address: `localhost`, `::1` or an IPv4
 * address in 127.0.0.0/8. A host name that merely starts with `127.` (`127.attacker.example`) is not.
 */
export function isLoopbackEndpoint(endpoint: string): boolean {
  try {
    const url = new URL(endpoint);
    return (
      (url.protocol === "http:" || url.protocol === "https:") &&
      (LOOPBACK_HOSTS.has(url.hostname) || (isIPv4(url.hostname) && url.hostname.startsWith("127.")))
    );
  } catch {
    return false;
  }
}

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
