import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { IntakeMessage } from "../../domain/webhooks/intake-message.js";
import { IntakeMessageTooLargeError } from "../../domain/webhooks/intake-message-too-large.js";
import type { IntakeQueue } from "../../ports/intake-queue.js";

export interface SqsIntakeQueueOptions {
  client: SQSClient;
  queueUrl: string;
  /**
   * Upper bound for one send, retries included. GitHub gives up on a delivery after 10 s, so the
   * receiver must be able to answer 503 well before that.
   */
  sendTimeoutMs?: number;
  /** Largest message sent, in bytes as SQS counts them; defaults to {@link SQS_MAX_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
}

/**
 * The message size the intake queue is sized for: 256 KiB, body and attributes together, in UTF-8
 * bytes. SQS took at most 256 KiB until August 2025 and takes up to 1 MiB since, but a queue's
 * `MaximumMessageSize` can be set lower (queues and stacks from before then often keep 256 KiB). The
 * `local-aws-sqs` emulator takes 1 MiB by default, counted in UTF-16 code units, which never exceed the
 * UTF-8 byte count. Staying under 256 KiB works on all of them.
 */
export const SQS_MAX_MESSAGE_BYTES = 256 * 1024;

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

type StringAttributes = Record<string, { DataType: "String"; StringValue: string }>;

/** The message attributes sent with a message: event and delivery id, for filtering without parsing. */
function intakeAttributes(message: IntakeMessage): StringAttributes {
  return {
    [INTAKE_ATTRIBUTES.event]: { DataType: "String", StringValue: message.event },
    [INTAKE_ATTRIBUTES.deliveryId]: { DataType: "String", StringValue: message.delivery_id },
  };
}

/** Body plus each attribute's name, data type and value, in UTF-8 bytes: what SQS counts. */
function sqsMessageBytes(body: string, attributes: StringAttributes): number {
  let bytes = Buffer.byteLength(body, "utf8");
  for (const [name, { DataType, StringValue }] of Object.entries(attributes)) {
    bytes += Buffer.byteLength(name) + Buffer.byteLength(DataType) + Buffer.byteLength(StringValue);
  }
  return bytes;
}

/** The size of `message` on the intake queue as SQS counts it against its limit, in bytes. */
export function intakeMessageBytes(message: IntakeMessage): number {
  return sqsMessageBytes(encodeIntakeBody(message), intakeAttributes(message));
}

/**
 * The intake queue on SQS: one message per delivery, the event and delivery id also as attributes. A
 * message over `maxMessageBytes` is refused with {@link IntakeMessageTooLargeError} before anything is
 * sent, so the caller can tell "too large" (permanent) from "queue unavailable" (retry).
 */
export function createSqsIntakeQueue({
  client,
  queueUrl,
  sendTimeoutMs = 5_000,
  maxMessageBytes = SQS_MAX_MESSAGE_BYTES,
}: SqsIntakeQueueOptions): IntakeQueue {
  return {
    async send(message: IntakeMessage): Promise<void> {
      const body = encodeIntakeBody(message);
      const attributes = intakeAttributes(message);
      const bytes = sqsMessageBytes(body, attributes);
      if (bytes > maxMessageBytes) throw new IntakeMessageTooLargeError(bytes, maxMessageBytes);
      await client.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageAttributes: attributes }),
        { abortSignal: AbortSignal.timeout(sendTimeoutMs) },
      );
    },
  };
}
