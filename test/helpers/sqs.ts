import { randomUUID } from "node:crypto";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, inject } from "vitest";
import { isLoopbackEndpoint } from "../../src/adapters/dynamo/client.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";

/**
 * Cleanups of what this file's tests created. Registered with one file-level `afterAll` when the
 * helper is imported: an `afterAll` called later, from inside a `beforeAll` or a test, never runs.
 */
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Matches the deployed queues: a message received this many times without success moves to the DLQ. */
export const MAX_RECEIVE_COUNT = 5;

export interface TestQueue {
  endpoint: string;
  client: SQSClient;
  queueUrl: string;
  dlqUrl: string;
  /** Receives and deletes every message currently visible on the queue, attributes included. */
  drain(): Promise<Message[]>;
}

function assertLoopback(url: string | undefined): string {
  if (!url || !isLoopbackEndpoint(url)) throw new Error(`Refusing non-local queue URL ${url ?? "(none)"}`);
  return url;
}

/**
 * Creates a queue with its own DLQ (RedrivePolicy, maxReceiveCount 5) in the shared SQS emulator for
 * the calling test file, and deletes both after the file. Refuses any endpoint that is not loopback.
 */
export async function useTestQueue(
  purpose = "intake",
  attributes: Record<string, string> = {},
): Promise<TestQueue> {
  const endpoint = inject("sqsEndpoint");
  const client = createSqsClient({ endpoint, requireLocal: true });
  const name = `agentforge-test-${purpose}-${randomUUID().slice(0, 8)}`;
  const dlq = await client.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqUrl = assertLoopback(dlq.QueueUrl);
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }),
  );
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        ...attributes,
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: Attributes?.QueueArn,
          maxReceiveCount: MAX_RECEIVE_COUNT,
        }),
      },
    }),
  );
  const queueUrl = assertLoopback(queue.QueueUrl);
  cleanups.push(async () => {
    await client.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    await client.send(new DeleteQueueCommand({ QueueUrl: dlqUrl }));
    client.destroy();
  });

  const drain = () => drainQueue(client, queueUrl);

  return { endpoint, client, queueUrl, dlqUrl, drain };
}

/** Receives and deletes every message currently visible on a queue, attributes included, as a consumer would. */
export async function drainQueue(client: SQSClient, queueUrl: string): Promise<Message[]> {
  const received: Message[] = [];
  for (;;) {
    const { Messages = [] } = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        MessageAttributeNames: ["All"],
        // SentTimestamp: what an agent judges a message's freshness by (the emulator needs "All").
        AttributeNames: ["All"],
      }),
    );
    if (Messages.length === 0) return received;
    received.push(...Messages);
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
}
