import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { IntakeMessage } from "../../domain/webhooks/intake-message.js";
import type { IntakeQueue } from "../../ports/intake-queue.js";

export interface SqsIntakeQueueOptions {
  client: SQSClient;
  queueUrl: string;
  /**
   * Upper bound for one send, retries included. GitHub gives up on a delivery after 10 s, so the
   * receiver must be able to answer 503 well before that.
   */
  sendTimeoutMs?: number;
}

/** Message attribute names, so consumers and redrive tooling can filter without parsing the body. */
export const INTAKE_ATTRIBUTES = { event: "event", deliveryId: "delivery_id" } as const;

/**
 * The message body: the message as JSON, with U+FFFE and U+FFFF written as JSON escapes. SQS refuses
 * bodies containing those two characters, while JSON.stringify leaves them raw, so a signed delivery
 * quoting them would otherwise fail to queue on every retry. The escaped text parses to the same value.
 */
export function encodeIntakeBody(message: IntakeMessage): string {
  return JSON.stringify(message).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/** The intake queue on SQS: one message per delivery, the event and delivery id also as attributes. */
export function createSqsIntakeQueue({
  client,
  queueUrl,
  sendTimeoutMs = 5_000,
}: SqsIntakeQueueOptions): IntakeQueue {
  return {
    async send(message: IntakeMessage): Promise<void> {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: encodeIntakeBody(message),
          MessageAttributes: {
            [INTAKE_ATTRIBUTES.event]: { DataType: "String", StringValue: message.event },
            [INTAKE_ATTRIBUTES.deliveryId]: { DataType: "String", StringValue: message.delivery_id },
          },
        }),
        { abortSignal: AbortSignal.timeout(sendTimeoutMs) },
      );
    },
  };
}
