import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type {
  ProjectionFailure,
  ProjectionFailureStore,
  StoredFailure,
} from "../../ports/projection-failures.js";
import { SQS_MAX_MESSAGE_BYTES } from "./intake-queue.js";

export interface SqsProjectionFailureQueueOptions {
  client: SQSClient;
  queueUrl: string;
  /** How long a received message stays hidden while a replay works on it (default 300 s). */
  visibilityTimeoutSeconds?: number;
  /** Largest body sent (default 256 KiB, what every SQS queue takes). */
  maxMessageBytes?: number;
}

/** JSON with U+FFFE / U+FFFF escaped: SQS refuses them raw (an unreadable image may carry them). */
function encode(failure: ProjectionFailure): string {
  return JSON.stringify(failure).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/**
 * A failure body within the size limit: the whole record when it fits, else the record without its
 * images (`images_dropped`), which a replay reads back from the stream by sequence number.
 */
export function failureBody(failure: ProjectionFailure, maxBytes = SQS_MAX_MESSAGE_BYTES): string {
  const whole = encode(failure);
  if (Buffer.byteLength(whole, "utf8") <= maxBytes) return whole;
  const { NewImage: _new, OldImage: _old, ...stream } = failure.record.dynamodb ?? {};
  return encode({ ...failure, record: { ...failure.record, dynamodb: stream }, images_dropped: true });
}

/** The projector's failure store on an SQS queue (the stream consumer's on-failure queue). */
export function createSqsProjectionFailureQueue({
  client,
  queueUrl,
  visibilityTimeoutSeconds = 300,
  maxMessageBytes = SQS_MAX_MESSAGE_BYTES,
}: SqsProjectionFailureQueueOptions): ProjectionFailureStore {
  return {
    async put(failure) {
      await client.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: failureBody(failure, maxMessageBytes) }),
      );
    },
    async receive(max) {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
          VisibilityTimeout: visibilityTimeoutSeconds,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ["SentTimestamp"],
        }),
      );
      return Messages.flatMap((message): StoredFailure[] => {
        if (!message.MessageId || !message.ReceiptHandle) return [];
        const sent = Number(message.Attributes?.SentTimestamp);
        return [
          {
            id: message.MessageId,
            receipt: message.ReceiptHandle,
            body: message.Body ?? "",
            sentAt: Number.isFinite(sent) && sent > 0 ? new Date(sent).toISOString() : null,
          },
        ];
      });
    },
    async delete(message) {
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.receipt }));
    },
    async release(message) {
      await client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: message.receipt,
          VisibilityTimeout: 0,
        }),
      );
    },
  };
}
