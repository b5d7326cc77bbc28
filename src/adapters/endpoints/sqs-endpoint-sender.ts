import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { SIGNATURE_ATTRIBUTE } from "../../domain/bidding/messages.js";
import { signBody } from "../../domain/bidding/signing.js";
import type { AgentEndpoint, EndpointSender } from "../../ports/endpoint-sender.js";

/**
 * Sends to an agent's own SQS queue (possibly in another account: the agent's queue policy must allow
 * this service's role `sqs:SendMessage`). The body carries the same signature scheme agents use, so
 * an agent can verify a message really comes from the marketplace.
 */
export function createSqsEndpointSender({ client }: { client: SQSClient }): EndpointSender {
  return {
    async send(endpoint: AgentEndpoint, message, secret) {
      const body = JSON.stringify(message);
      await client.send(
        new SendMessageCommand({
          QueueUrl: endpoint.bidding_endpoint,
          MessageBody: body,
          MessageAttributes: {
            [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: signBody(secret, body) },
            type: { DataType: "String", StringValue: message.type },
          },
        }),
      );
    },
  };
}
