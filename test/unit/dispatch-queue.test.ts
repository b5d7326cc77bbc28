import type { EmfOutput } from "@aws-lambda-powertools/metrics/types";
import {
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { DynamoDBRecord, SQSRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { DispatchSummary } from "../../src/domain/bidding/dispatch.service.js";
import { NotFoundError } from "../../src/domain/errors.js";
import { createObservability } from "../../src/observability.js";
import {
  createDispatchQueueBatchHandler,
  createTaskStreamEnqueuer,
  DispatchEnqueueError,
} from "../../src/workers/dispatch-queue.js";

const QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-dispatch";
const task = (n: number) => `https://github.com/octo-org/octo-repo/issues/${n}`;

let sequence = 0;

/** A stream record of the table (NEW_AND_OLD_IMAGES) for an item of `type`. */
function streamRecord(
  eventName: "INSERT" | "MODIFY",
  type: string,
  taskId: unknown = task(1),
): DynamoDBRecord {
  sequence += 1;
  const image = {
    PK: { S: `TASK#${String(taskId)}` },
    SK: { S: type },
    type: { S: type },
    task_id: typeof taskId === "string" ? { S: taskId } : { N: "42" },
  };
  return {
    eventID: `e-${sequence}`,
    eventName,
    eventSource: "aws:dynamodb",
    awsRegion: "us-east-1",
    dynamodb: {
      NewImage: image,
      SequenceNumber: String(1_000 + sequence),
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
  } as DynamoDBRecord;
}

/** An SQS client double that records each SendMessageBatch and answers with scripted failures. */
function sqsDouble(failIds: (entries: Array<{ Id?: string }>) => string[] = () => []) {
  const batches: Array<Array<{ Id?: string; MessageBody?: string }>> = [];
  const client = {
    async send(command: unknown): Promise<Partial<SendMessageBatchCommandOutput>> {
      if (!(command instanceof SendMessageBatchCommand)) throw new Error("unexpected command");
      const entries = command.input.Entries ?? [];
      batches.push(entries);
      const failed = failIds(entries);
      return {
        Successful: entries
          .filter((e) => !failed.includes(e.Id ?? ""))
          .map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}`, MD5OfMessageBody: "" })),
        Failed: failed.map((Id) => ({ Id, Code: "InternalError", SenderFault: false })),
      };
    },
  } as unknown as SQSClient;
  return { client, batches };
}

function observed() {
  const emitted: EmfOutput[] = [];
  const { logger, metrics } = createObservability({
    logLevel: "SILENT",
    metricsSink: (e) => emitted.push(e),
  });
  /** Sum of a metric over every flushed document (a metric added twice in one flush is an array). */
  const total = (name: string) =>
    emitted
      .flatMap((emf) => [(emf as Record<string, unknown>)[name] ?? []].flat())
      .reduce((sum: number, value) => sum + Number(value), 0);
  return { logger, metrics, total };
}

describe("task stream enqueuer", () => {
  it("sends each new task once, in stream order, as { task_id }, and ignores every other record", async () => {
    const { client, batches } = sqsDouble();
    const { logger, metrics, total } = observed();
    const enqueue = createTaskStreamEnqueuer({ client, queueUrl: QUEUE_URL, logger, metrics });

    await enqueue({
      Records: [
        streamRecord("INSERT", "TASK", task(2)),
        streamRecord("INSERT", "BID_WINDOW", task(2)),
        streamRecord("MODIFY", "TASK", task(3)),
        streamRecord("INSERT", "TASK", task(1)),
        streamRecord("INSERT", "TASK", task(2)),
      ],
    });

    expect(batches).toHaveLength(1);
    expect(batches[0]?.map((e) => JSON.parse(e.MessageBody ?? ""))).toEqual([
      { task_id: task(2) },
      { task_id: task(1) },
    ]);
    expect(total("TasksEnqueuedForDispatch")).toBe(2);
  });

  it("sends in SendMessageBatch chunks of at most 10 entries", async () => {
    const { client, batches } = sqsDouble();
    const { logger, metrics } = observed();
    const enqueue = createTaskStreamEnqueuer({ client, queueUrl: QUEUE_URL, logger, metrics });
    const records = Array.from({ length: 25 }, (_, i) => streamRecord("INSERT", "TASK", task(i + 1)));

    await enqueue({ Records: records });

    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((e) => JSON.parse(e.MessageBody ?? "").task_id)).toEqual(
      records.map((_, i) => task(i + 1)),
    );
  });

  it("throws when any entry is refused, naming the task, so the stream retries the batch", async () => {
    const { client } = sqsDouble((entries) => (entries.length > 1 ? ["1"] : []));
    const { logger, metrics } = observed();
    const enqueue = createTaskStreamEnqueuer({ client, queueUrl: QUEUE_URL, logger, metrics });

    const attempt = enqueue({
      Records: [streamRecord("INSERT", "TASK", task(7)), streamRecord("INSERT", "TASK", task(8))],
    });

    await expect(attempt).rejects.toThrow(DispatchEnqueueError);
    await expect(attempt).rejects.toThrow(task(8));
  });

  it("drops an unreadable task insert and sends nothing for a batch without new tasks", async () => {
    const { client, batches } = sqsDouble();
    const { logger, metrics, total } = observed();
    const enqueue = createTaskStreamEnqueuer({ client, queueUrl: QUEUE_URL, logger, metrics });

    await enqueue({ Records: [streamRecord("INSERT", "TASK", 42), streamRecord("INSERT", "BID", task(1))] });

    expect(batches).toEqual([]);
    expect(total("DispatchRecordsRejected")).toBe(1);
  });
});

describe("dispatch queue worker", () => {
  function sqsRecord(messageId: string, body: string): SQSRecord {
    return {
      messageId,
      receiptHandle: `rh-${messageId}`,
      body,
      attributes: {
        ApproximateReceiveCount: "1",
        SentTimestamp: "1751371200000",
        SenderId: "task-stream",
        ApproximateFirstReceiveTimestamp: "1751371200000",
      },
      messageAttributes: {},
      md5OfBody: "",
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:us-east-1:123456789012:agentforge-dispatch",
      awsRegion: "us-east-1",
    };
  }

  const summary = (taskId: string, overrides: Partial<DispatchSummary> = {}): DispatchSummary => ({
    task_id: taskId,
    task_status: "OPEN",
    invited: 2,
    newly_invited: 2,
    enqueued: 2,
    already_settled: 0,
    ...overrides,
  });

  function workerWith(dispatch: (taskId: string) => Promise<DispatchSummary>) {
    const calls: string[] = [];
    const { logger, metrics, total } = observed();
    const handle = createDispatchQueueBatchHandler({
      dispatcher: {
        dispatch: (taskId) => {
          calls.push(taskId);
          return dispatch(taskId);
        },
        notify: async (taskId) => {
          calls.push(`notify ${taskId}`);
          return { task_id: taskId, task_status: "AWARDED", enqueued: 3 };
        },
      },
      logger,
      metrics,
    });
    return { calls, handle, total };
  }

  it("dispatches each message's task in queue order and records the counts", async () => {
    const { calls, handle, total } = workerWith(async (id) => summary(id));

    const response = await handle({
      Records: [
        sqsRecord("a", JSON.stringify({ task_id: task(1) })),
        sqsRecord("b", `{"task_id":"${task(2)}"}`),
      ],
    });

    expect(calls).toEqual([task(1), task(2)]);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(total("TasksDispatched")).toBe(2);
    expect(total("BidRequestsEnqueued")).toBe(4);
  });

  it("a notify message enqueues the decided task's notices", async () => {
    const { calls, handle, total } = workerWith(async (id) => summary(id));

    const response = await handle({
      Records: [sqsRecord("n", JSON.stringify({ task_id: task(3), kind: "notify" }))],
    });

    expect(response).toEqual({ batchItemFailures: [] });
    expect(calls).toEqual([`notify ${task(3)}`]);
    expect(total("NoticesEnqueued")).toBe(3);
    expect(total("TasksDispatched")).toBe(0);
  });

  it("acknowledges permanent problems: malformed bodies, a task id that is not an issue URL, a vanished task", async () => {
    const gone = task(99);
    const { calls, handle, total } = workerWith(async (id) => {
      if (id === gone) throw new NotFoundError("task", id);
      return summary(id, { skipped: "DEADLINE_PASSED", invited: 0, newly_invited: 0, enqueued: 0 });
    });

    const response = await handle({
      Records: [
        sqsRecord("not-json", "{"),
        sqsRecord("bad-id", JSON.stringify({ task_id: "not-a-url" })),
        sqsRecord("gone", JSON.stringify({ task_id: gone })),
        sqsRecord("late", JSON.stringify({ task_id: task(5) })),
      ],
    });

    expect(response).toEqual({ batchItemFailures: [] });
    expect(calls).toEqual([gone, task(5)]);
    expect(total("DispatchRecordsRejected")).toBe(3);
    expect(total("TasksNotDispatched")).toBe(1);
  });

  it("fails only the record whose dispatch hit a transient error", async () => {
    const { handle } = workerWith(async (id) => {
      if (id === task(2)) throw new Error("ProvisionedThroughputExceededException");
      return summary(id);
    });

    const response = await handle({
      Records: [
        sqsRecord("a", JSON.stringify({ task_id: task(1) })),
        sqsRecord("b", JSON.stringify({ task_id: task(2) })),
        sqsRecord("c", JSON.stringify({ task_id: task(3) })),
      ],
    });

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "b" }] });
  });
});

describe("DISPATCH_QUEUE_URL", () => {
  it("is read from the environment and must be a URL", () => {
    expect(loadConfig({ DISPATCH_QUEUE_URL: QUEUE_URL }).dispatchQueueUrl).toBe(QUEUE_URL);
    expect(loadConfig({}).dispatchQueueUrl).toBeUndefined();
    expect(() => loadConfig({ DISPATCH_QUEUE_URL: "queue" })).toThrow("DISPATCH_QUEUE_URL");
  });
});
