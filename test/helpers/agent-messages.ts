import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  type AgentMessage,
  type Envelope,
  type MarketplaceMessage,
  SIGNATURE_ATTRIBUTE,
  seal,
  type Unsealed,
} from "../../examples/agent/src/protocol.js";

/** A sealed message as a test sends it: the exact body, its signature, and the SQS attributes carrying it. */
export interface SealedTestMessage {
  body: string;
  signature: string;
  /** `MessageAttributes` for `SendMessage`: the signature as the `X-AgentForge-Signature` string attribute. */
  attributes: Record<string, MessageAttributeValue>;
}

export interface SealOptions {
  /** `sent_at`; pin it to test STALE, or to match a pinned clock. Defaults to now. */
  now?: Date;
  /** Reuse a nonce to test REPLAY. Defaults to a fresh one. */
  nonce?: string;
}

function sealed<T extends Envelope>(
  message: Unsealed<T>,
  secret: string,
  options: SealOptions,
): SealedTestMessage {
  const { body, signature } = seal<T>(message, secret, options);
  return {
    body,
    signature,
    attributes: { [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: signature } },
  };
}

/**
 * An agent's BID, DECLINE or COST_REPORT as the agent kit seals it (`sent_at`, `nonce`, HMAC over the
 * exact body), ready to put on the bids queue: `SendMessage({ MessageBody: body, MessageAttributes: attributes })`.
 */
export function sealedAgentMessage(
  message: Unsealed<AgentMessage>,
  secret: string,
  options: SealOptions = {},
): SealedTestMessage {
  return sealed<AgentMessage>(message, secret, options);
}

/** A BID_REQUEST, AWARD or REJECTION sealed as the marketplace would, for tests of an agent's side. */
export function sealedMarketplaceMessage(
  message: Unsealed<MarketplaceMessage>,
  secret: string,
  options: SealOptions = {},
): SealedTestMessage {
  return sealed<MarketplaceMessage>(message, secret, options);
}

/** Seals `message` with the agent's `secret` and puts it on `queueUrl` (the bids queue, usually). */
export async function sendSealedAgentMessage(
  sqs: SQSClient,
  queueUrl: string,
  message: Unsealed<AgentMessage>,
  secret: string,
  options: SealOptions = {},
): Promise<SealedTestMessage> {
  const sealed = sealedAgentMessage(message, secret, options);
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: sealed.body,
      MessageAttributes: sealed.attributes,
    }),
  );
  return sealed;
}
