import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";

export interface SqsEventSourceOptions {
  client: SQSClient;
  queueUrl: string;
  /** The consuming function: same signature as the Lambda handler. */
  handler: (event: SQSEvent) => Promise<SQSBatchResponse | undefined>;
  /** Messages per invocation (Lambda's BatchSize), at most 10 here. */
  batchSize?: number;
  region?: string;
}

/** Converts received SQS messages into the records a Lambda SQS event carries. */
export function toSqsEvent(messages: Message[], queueArn: string, region: string): SQSEvent {
  return {
    Records: messages.map(
      (m): SQSRecord => ({
        messageId: m.MessageId ?? "",
        receiptHandle: m.ReceiptHandle ?? "",
        body: m.Body ?? "",
        attributes: {
          ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? "1",
          SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
          SenderId: m.Attributes?.SenderId ?? "local",
          ApproximateFirstReceiveTimestamp:
            m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        },
        messageAttributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([name, value]) => [
            name,
            {
              dataType: value.DataType ?? "String",
              ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
            },
          ]),
        ),
        md5OfBody: m.MD5OfBody ?? "",
        eventSource: "aws:sqs",
        eventSourceARN: queueArn,
        awsRegion: region,
      }),
    ),
  };
}

/**
 * One entry per message id, with the newest receipt handle (the only one a delete honours). SQS never
 * returns a message twice in one receive, but the emulator's long poll can, when the message becomes
 * visible again while the poll waits (seen with a 1 s visibility timeout): without this the handler
 * would get a record twice in one batch.
 */
export function latestReceiptPerMessage(messages: readonly Message[]): Message[] {
  const byId = new Map<string, Message>();
  for (const message of messages) {
    const id = message.MessageId ?? "";
    byId.delete(id);
    byId.set(id, message);
  }
  return [...byId.values()];
}

/**
 * A Lambda SQS event source mapping for local runs and tests: receives a batch, invokes the handler
 * with a real `SQSEvent`, deletes what succeeded and leaves `batchItemFailures` on the queue, where the
 * visibility timeout and the queue's redrive policy (maxReceiveCount → DLQ) take over, as on AWS.
 * A handler that throws fails the whole batch, as on AWS.
 */
export function createSqsEventSource({
  client,
  queueUrl,
  handler,
  batchSize = 10,
  region = "us-east-1",
}: SqsEventSourceOptions) {
  let queueArn: string | undefined;

  return {
    /** One receive-invoke-delete round; resolves to the number of messages handed to the handler. */
    async pollOnce(waitSeconds = 0): Promise<{ received: number; failed: number }> {
      if (!queueArn) {
        const { Attributes } = await client.send(
          new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
        );
        queueArn = Attributes?.QueueArn ?? queueUrl;
      }
      const { Messages: received = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(batchSize, 10),
          WaitTimeSeconds: waitSeconds,
          MessageAttributeNames: ["All"],
          // The emulator ignores MessageSystemAttributeNames; AttributeNames gets the receive count.
          AttributeNames: ["All"],
          MessageSystemAttributeNames: ["All"],
        }),
      );
      const Messages = latestReceiptPerMessage(received);
      if (Messages.length === 0) return { received: 0, failed: 0 };
      let failedIds: Set<string>;
      try {
        const response = await handler(toSqsEvent(Messages, queueArn, region));
        failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      } catch {
        failedIds = new Set(Messages.map((m) => m.MessageId ?? ""));
      }
      const done = Messages.filter((m) => !failedIds.has(m.MessageId ?? ""));
      if (done.length > 0) {
        await client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
      return { received: Messages.length, failed: failedIds.size };
    },

    /** Polls until a round receives nothing. */
    async drain(): Promise<number> {
      let total = 0;
      for (;;) {
        const { received } = await this.pollOnce();
        if (received === 0) return total;
        total += received;
      }
    },
  };
}
