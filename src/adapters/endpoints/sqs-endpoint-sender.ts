import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { SIGNATURE_ATTRIBUTE } from "../../domain/bidding/messages.js";
import { sealMessage } from "../../domain/bidding/signing.js";
import type { AgentEndpoint, EndpointSender } from "../../ports/endpoint-sender.js";

/** The AWS region named in an SQS queue URL (`https://sqs.<region>.amazonaws.com/...`), if any. */
function queueRegion(queueUrl: string): string | undefined {
  return /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(queueUrl)?.[1];
}

/**
 * Picks the client for a queue URL: requests are signed for the client's region, so a queue in
 * another region needs its own client (built once per region by `clientForRegion`). URLs that name
 * no region (the local emulator's), and every queue when `clientForRegion` is omitted, use `client`.
 */
export function createQueueClientResolver({
  client,
  clientForRegion,
}: {
  client: SQSClient;
  clientForRegion?: ((region: string) => SQSClient) | undefined;
}): (queueUrl: string) => SQSClient {
  const byRegion = new Map<string, SQSClient>();
  return (queueUrl) => {
    const region = queueRegion(queueUrl);
    if (!region || !clientForRegion) return client;
    let regional = byRegion.get(region);
    if (!regional) {
      regional = clientForRegion(region);
      byRegion.set(region, regional);
    }
    return regional;
  };
}

/**
 * Sends to an agent's own SQS queue (possibly in another account: the agent's queue policy must allow
 * this service's role `sqs:SendMessage`). Each send is sealed afresh (protocol v2: `sent_at` and a
 * new `nonce` in the body, signed with the agent's secret), so the agent can verify that a message
 * comes from the marketplace, is recent, and is not a replay.
 */
export function createSqsEndpointSender({
  client,
  clientForRegion,
  now = () => new Date(),
}: {
  client: SQSClient;
  /** Clock for `sent_at`. */
  now?: () => Date;
  /**
   * A client for another region. Requests are signed for the client's region, so a queue in another
   * region needs its own client; without this option every queue goes through `client`.
   */
  clientForRegion?: (region: string) => SQSClient;
}): EndpointSender {
  const clientFor = createQueueClientResolver({ client, clientForRegion });

  return {
    async send(endpoint: AgentEndpoint, message, secret) {
      const { body, signature } = sealMessage(message, secret, { now: now() });
      await clientFor(endpoint.bidding_endpoint).send(
        new SendMessageCommand({
          QueueUrl: endpoint.bidding_endpoint,
          MessageBody: body,
          MessageAttributes: {
            [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: signature },
            type: { DataType: "String", StringValue: message.type },
          },
        }),
      );
    },
  };
}
