import { type Message, SendMessageBatchCommand, SetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { startQueuePoller } from "../../src/local/queue-poller.js";
import { drainQueue, MAX_RECEIVE_COUNT, type TestQueue, useTestQueue } from "../helpers/sqs.js";

describe("local queue poller (the stack's SQS event source mapping)", () => {
  let queue: TestQueue;

  beforeAll(async () => {
    queue = await useTestQueue("poller");
    // A short visibility timeout so a failed message comes back within the test.
    await queue.client.send(
      new SetQueueAttributesCommand({ QueueUrl: queue.queueUrl, Attributes: { VisibilityTimeout: "1" } }),
    );
  });

  it("honours batch size and partial failures; a message failing maxReceiveCount times lands in the DLQ", async () => {
    const bodies = ["ok-1", "ok-2", "poison", "ok-3", "ok-4", "ok-5", "ok-6"];
    await queue.client.send(
      new SendMessageBatchCommand({
        QueueUrl: queue.queueUrl,
        Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })),
      }),
    );
    const batchSizes: number[] = [];
    const handled: string[] = [];
    let poisonReceives = 0;
    const errors: unknown[] = [];
    const poller = startQueuePoller({
      client: queue.client,
      queueUrl: queue.queueUrl,
      region: "us-east-1",
      batchSize: 3,
      concurrency: 2,
      onError: (error) => errors.push(error),
      handler: async (event: SQSEvent): Promise<SQSBatchResponse> => {
        batchSizes.push(event.Records.length);
        const failures = event.Records.filter((r) => r.body === "poison");
        poisonReceives += failures.length;
        handled.push(...event.Records.filter((r) => r.body !== "poison").map((r) => r.body));
        return { batchItemFailures: failures.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    // SQS moves a message to the DLQ when a receive finds it past maxReceiveCount: keep polling until then.
    const deadLetters: Message[] = [];
    try {
      const deadline = Date.now() + 30_000;
      while (deadLetters.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        deadLetters.push(...(await drainQueue(queue.client, queue.dlqUrl)));
      }
    } finally {
      await poller.stop();
    }

    expect(errors).toEqual([]);
    expect(Math.max(...batchSizes)).toBeLessThanOrEqual(3);
    // Successful records were deleted: each handled exactly once.
    expect(handled.sort()).toEqual(bodies.filter((b) => b !== "poison").sort());
    expect(poisonReceives).toBe(MAX_RECEIVE_COUNT);
    expect(deadLetters.map((m) => m.Body)).toEqual(["poison"]);
    expect(await queue.drain()).toEqual([]);
  }, 60_000);
});
