import { SQSClient } from "@aws-sdk/client-sqs";
import { isLoopbackEndpoint } from "../loopback.js";

export interface SqsClientOptions {
  /** SQS emulator endpoint; omitted on AWS. */
  endpoint?: string;
  region?: string;
  requireLocal?: boolean;
}

/** Builds the SQS client; with an endpoint it talks to the local emulator using fake credentials. */
export function createSqsClient({
  endpoint,
  region,
  requireLocal = false,
}: SqsClientOptions = {}): SQSClient {
  if (requireLocal && (!endpoint || !isLoopbackEndpoint(endpoint))) {
    throw new Error(
      `Refusing non-local SQS endpoint ${endpoint ?? "(AWS default)"}: only loopback is allowed here`,
    );
  }
  return new SQSClient({
    region: region ?? (endpoint ? "us-east-1" : undefined),
    ...(endpoint ? { endpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
  });
}
