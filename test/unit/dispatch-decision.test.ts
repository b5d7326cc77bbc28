import type { DynamoDBRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { bidWindowShard } from "../../src/adapters/dynamo/bid-window-shard.js";
import { dispatchDecision, tasksToDispatch } from "../../src/workers/dispatch-queue.js";

const TASK_URL = "https://github.com/octo-org/octo-repo/issues/42";
const STREAM_ARN =
  "arn:aws:dynamodb:us-east-1:123456789012:table/AgentForge-Marketplace/stream/2025-07-01T00:00:00.000";

type StreamImage = NonNullable<DynamoDBRecord["dynamodb"]>["NewImage"];

let sequence = 100_000_000_000_000_000_000n;

/** A stream record as Lambda delivers it for the table (NEW_AND_OLD_IMAGES). */
function streamRecord(
  eventName: "INSERT" | "MODIFY" | "REMOVE",
  keys: { PK: string; SK: string },
  images: { NewImage?: StreamImage; OldImage?: StreamImage },
): DynamoDBRecord {
  sequence += 1n;
  return {
    eventID: `c81e728d9d4c2f636f067f89cc14862c${sequence % 1000n}`,
    eventName,
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: "us-east-1",
    dynamodb: {
      ApproximateCreationDateTime: 1751371200,
      Keys: { PK: { S: keys.PK }, SK: { S: keys.SK } },
      ...images,
      SequenceNumber: String(sequence),
      SizeBytes: 412,
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
    eventSourceARN: STREAM_ARN,
  };
}

/** The task item exactly as the webhook worker writes it (ElectroDB bookkeeping included). */
function taskImage(url = TASK_URL, status = "OPEN") {
  return {
    PK: { S: `TASK#${url}` },
    SK: { S: "TASK" },
    type: { S: "TASK" },
    task_id: { S: url },
    title: { S: "Retry webhook deliveries with backoff" },
    status: { S: status },
    required_capabilities: { SS: ["python", "sql"] },
    budget: { N: "25" },
    bid_deadline: { S: "2025-07-01T12:05:00.000Z" },
    repository_id: { N: "1296269" },
    issue_node_id: { S: "I_kwDOABCD5M5Q8gUv" },
    version: { N: "1" },
    created_at: { S: "2025-07-01T12:00:00.000Z" },
    updated_at: { S: "2025-07-01T12:00:00.000Z" },
    __edb_e__: { S: "task" },
    __edb_v__: { S: "1" },
  };
}

const taskInsert = (url = TASK_URL) =>
  streamRecord("INSERT", { PK: `TASK#${url}`, SK: "TASK" }, { NewImage: taskImage(url) });

const bidWindowInsert = streamRecord(
  "INSERT",
  { PK: `TASK#${TASK_URL}`, SK: "BID_WINDOW" },
  {
    NewImage: {
      PK: { S: `TASK#${TASK_URL}` },
      SK: { S: "BID_WINDOW" },
      type: { S: "BID_WINDOW" },
      task_id: { S: TASK_URL },
      bid_deadline: { S: "2025-07-01T12:05:00.000Z" },
      shard: { N: String(bidWindowShard(TASK_URL)) },
      GSI3PK: { S: `OPEN_TASK#${bidWindowShard(TASK_URL)}` },
      GSI3SK: { S: `2025-07-01T12:05:00.000Z#${TASK_URL}` },
      __edb_e__: { S: "bid_window" },
      __edb_v__: { S: "1" },
    },
  },
);

const bidInsert = streamRecord(
  "INSERT",
  { PK: `TASK#${TASK_URL}`, SK: "BID#agent-7" },
  {
    NewImage: {
      PK: { S: `TASK#${TASK_URL}` },
      SK: { S: "BID#agent-7" },
      type: { S: "BID" },
      task_id: { S: TASK_URL },
      agent_id: { S: "agent-7" },
      status: { S: "INVITED" },
      delivery_status: { S: "PENDING" },
      invited_at: { S: "2025-07-01T12:00:01.000Z" },
      updated_at: { S: "2025-07-01T12:00:01.000Z" },
      __edb_e__: { S: "bid" },
      __edb_v__: { S: "1" },
    },
  },
);

const taskModify = streamRecord(
  "MODIFY",
  { PK: `TASK#${TASK_URL}`, SK: "TASK" },
  { OldImage: taskImage(), NewImage: taskImage(TASK_URL, "AWARDED") },
);

const taskRemove = streamRecord("REMOVE", { PK: `TASK#${TASK_URL}`, SK: "TASK" }, { OldImage: taskImage() });

/** The award item as the award transaction writes it. */
function awardImage(status: "AWARDED" | "PENDING_APPROVAL", url = TASK_URL) {
  return {
    PK: { S: `TASK#${url}` },
    SK: { S: "AWARD" },
    type: { S: "AWARD" },
    task_id: { S: url },
    agent_id: { S: "agent-7" },
    bid_amount: { N: "20" },
    status: { S: status },
    awarded_at: { S: "2025-07-01T12:06:00.000Z" },
  };
}
const awardKeys = { PK: `TASK#${TASK_URL}`, SK: "AWARD" };

const agentInsert = streamRecord(
  "INSERT",
  { PK: "AGENT#agent-7", SK: "PROFILE" },
  {
    NewImage: {
      PK: { S: "AGENT#agent-7" },
      SK: { S: "PROFILE" },
      type: { S: "AGENT_PROFILE" },
      agent_id: { S: "agent-7" },
      capabilities: { SS: ["python"] },
      status: { S: "active" },
      kill_switch_active: { BOOL: false },
    },
  },
);

describe("dispatchDecision: which stream records start a dispatch", () => {
  it("the INSERT of a task item dispatches that task", () => {
    expect(dispatchDecision(taskInsert())).toEqual({
      action: "dispatch",
      taskId: TASK_URL,
      kind: "dispatch",
    });
  });

  it.each([
    ["an award written AWARDED", streamRecord("INSERT", awardKeys, { NewImage: awardImage("AWARDED") })],
    [
      "a held award approved",
      streamRecord("MODIFY", awardKeys, {
        OldImage: awardImage("PENDING_APPROVAL"),
        NewImage: awardImage("AWARDED"),
      }),
    ],
    [
      "a task closed without bids",
      streamRecord(
        "MODIFY",
        { PK: `TASK#${TASK_URL}`, SK: "TASK" },
        { OldImage: taskImage(TASK_URL, "CLOSING"), NewImage: taskImage(TASK_URL, "NO_BIDS") },
      ),
    ],
  ])("the outbox: %s asks for its notices", (_name, record) => {
    expect(dispatchDecision(record)).toEqual({ action: "dispatch", taskId: TASK_URL, kind: "notify" });
  });

  it.each([
    [
      "an award held for approval",
      streamRecord("INSERT", awardKeys, { NewImage: awardImage("PENDING_APPROVAL") }),
    ],
    [
      "an AWARDED award changed again (its cost report)",
      streamRecord("MODIFY", awardKeys, { OldImage: awardImage("AWARDED"), NewImage: awardImage("AWARDED") }),
    ],
    [
      "a NO_BIDS task updated again",
      streamRecord(
        "MODIFY",
        { PK: `TASK#${TASK_URL}`, SK: "TASK" },
        { OldImage: taskImage(TASK_URL, "NO_BIDS"), NewImage: taskImage(TASK_URL, "NO_BIDS") },
      ),
    ],
    [
      "an award deleted (a rejected approval)",
      streamRecord("REMOVE", awardKeys, { OldImage: awardImage("PENDING_APPROVAL") }),
    ],
  ])("owes nothing for %s", (_name, record) => {
    expect(dispatchDecision(record)).toEqual({ action: "ignore" });
  });

  it.each([
    ["bid window insert", bidWindowInsert],
    ["bid insert", bidInsert],
    ["agent profile insert", agentInsert],
    ["task update", taskModify],
    ["task delete", taskRemove],
    [
      "record without images (KEYS_ONLY)",
      { ...taskInsert(), dynamodb: { Keys: taskInsert().dynamodb?.Keys } },
    ],
  ])("ignores a %s", (_name, record) => {
    expect(dispatchDecision(record as DynamoDBRecord)).toEqual({ action: "ignore" });
  });

  it("rejects a task insert whose task_id is not an issue URL, with the reason", () => {
    const record = taskInsert();
    const image = record.dynamodb?.NewImage;
    if (image) image.task_id = { S: "not-a-url" };

    const decision = dispatchDecision(record);

    expect(decision).toMatchObject({ action: "reject", reason: expect.stringContaining("task_id") });
  });

  it("rejects a task insert without a task_id", () => {
    const record = taskInsert();
    if (record.dynamodb?.NewImage) delete record.dynamodb.NewImage.task_id;

    expect(dispatchDecision(record).action).toBe("reject");
  });

  it("tasksToDispatch keeps stream order and each (task, kind) once", () => {
    const other = "https://github.com/octo-org/octo-repo/issues/43";

    const ids = tasksToDispatch([
      bidWindowInsert,
      taskInsert(other),
      bidInsert,
      taskInsert(),
      streamRecord("INSERT", awardKeys, { NewImage: awardImage("AWARDED") }),
      taskInsert(other),
      streamRecord("INSERT", awardKeys, { NewImage: awardImage("AWARDED") }),
    ]);

    expect(ids).toEqual([{ task_id: other }, { task_id: TASK_URL }, { task_id: TASK_URL, kind: "notify" }]);
  });
});
