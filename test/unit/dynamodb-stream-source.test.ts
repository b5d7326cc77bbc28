import type { _Record } from "@aws-sdk/client-dynamodb-streams";
import { describe, expect, it } from "vitest";
import {
  compareSequenceNumbers,
  parseCheckpointFile,
  readyShards,
  retryDelay,
  toDynamoDBRecord,
} from "../../src/local/dynamodb-stream-source.js";

const ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/T/stream/2026-01-01T00:00:00.000";

describe("compareSequenceNumbers", () => {
  it("orders by numeric value, whatever the length or zero padding", () => {
    expect(compareSequenceNumbers("000000000000000000009", "000000000000000000010")).toBe(-1);
    expect(compareSequenceNumbers("100000000000000000000000", "99999999999999999999999")).toBe(1);
    expect(compareSequenceNumbers("0042", "42")).toBe(0);
  });
});

describe("readyShards", () => {
  const shard = (shardId: string, parentShardId?: string, finished = false, busy = false) => ({
    shardId,
    parentShardId,
    finished,
    busy,
  });

  it("holds a child back until its parent is finished", () => {
    expect(readyShards([shard("parent"), shard("child", "parent")]).map((s) => s.shardId)).toEqual([
      "parent",
    ]);
    expect(
      readyShards([shard("parent", undefined, true), shard("child", "parent")]).map((s) => s.shardId),
    ).toEqual(["child"]);
  });

  it("reads a child whose parent the stream no longer lists, and no shard that is finished or busy", () => {
    const shards = [
      shard("orphan", "trimmed"),
      shard("done", undefined, true),
      shard("reading", undefined, false, true),
    ];
    expect(readyShards(shards).map((s) => s.shardId)).toEqual(["orphan"]);
  });

  it("walks a chain one generation at a time", () => {
    const chain = [shard("a"), shard("b", "a"), shard("c", "b"), shard("d", "b")];
    expect(readyShards(chain).map((s) => s.shardId)).toEqual(["a"]);
    (chain[0] as { finished: boolean }).finished = true;
    expect(readyShards(chain).map((s) => s.shardId)).toEqual(["b"]);
    (chain[1] as { finished: boolean }).finished = true;
    expect(readyShards(chain).map((s) => s.shardId)).toEqual(["c", "d"]);
  });
});

describe("retryDelay", () => {
  const delays = { base: 100, max: 1_000 };

  it("doubles per attempt up to the cap, with equal jitter", () => {
    expect([1, 2, 3, 4, 5, 10].map((attempt) => retryDelay(attempt, delays, () => 1))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
    expect([1, 2, 3, 4, 5].map((attempt) => retryDelay(attempt, delays, () => 0))).toEqual([
      50, 100, 200, 400, 500,
    ]);
  });
});

describe("toDynamoDBRecord", () => {
  const record: _Record = {
    eventID: "e-1",
    eventName: "MODIFY",
    eventVersion: "1.1",
    eventSource: "aws:dynamodb",
    awsRegion: "ddblocal",
    dynamodb: {
      ApproximateCreationDateTime: new Date("2026-01-01T00:01:00.000Z"),
      Keys: { PK: { S: "a" }, SK: { S: "ITEM" } },
      NewImage: {
        PK: { S: "a" },
        blob: { B: new Uint8Array([1, 2, 3]) },
        nested: { M: { list: { L: [{ BS: [new Uint8Array([255])] }, { N: "1" }] }, flag: { NULL: true } } },
      },
      OldImage: { PK: { S: "a" }, tags: { SS: ["x"] } },
      SequenceNumber: "000000000000000000007",
      SizeBytes: 42,
      StreamViewType: "NEW_AND_OLD_IMAGES",
    },
    userIdentity: { Type: "Service", PrincipalId: "dynamodb.amazonaws.com" },
  };

  it("gives epoch seconds, base64 binaries and the stream ARN, as Lambda does", () => {
    expect(toDynamoDBRecord(record, ARN)).toEqual({
      eventID: "e-1",
      eventName: "MODIFY",
      eventVersion: "1.1",
      eventSource: "aws:dynamodb",
      awsRegion: "ddblocal",
      eventSourceARN: ARN,
      userIdentity: { type: "Service", principalId: "dynamodb.amazonaws.com" },
      dynamodb: {
        ApproximateCreationDateTime: 1767225660,
        Keys: { PK: { S: "a" }, SK: { S: "ITEM" } },
        NewImage: {
          PK: { S: "a" },
          blob: { B: "AQID" },
          nested: { M: { list: { L: [{ BS: ["/w=="] }, { N: "1" }] }, flag: { NULL: true } } },
        },
        OldImage: { PK: { S: "a" }, tags: { SS: ["x"] } },
        SequenceNumber: "000000000000000000007",
        SizeBytes: 42,
        StreamViewType: "NEW_AND_OLD_IMAGES",
      },
    });
  });

  it("stamps the configured region and leaves absent images out", () => {
    const insert = toDynamoDBRecord(
      { ...record, eventName: "INSERT", dynamodb: { ...record.dynamodb, OldImage: undefined } },
      ARN,
      "eu-west-1",
    );
    expect(insert.awsRegion).toBe("eu-west-1");
    expect(insert.dynamodb).not.toHaveProperty("OldImage");
  });
});

describe("parseCheckpointFile", () => {
  it("reads the shards' sequence numbers", () => {
    expect(parseCheckpointFile('{"version":1,"shards":{"shardId-1":"000123"}}', "/x/cp.json")).toEqual({
      "shardId-1": "000123",
    });
  });

  it.each([
    ["not JSON", "{ nope", /Checkpoint file \/x\/cp\.json is not valid JSON .*Delete \/x\/cp\.json/],
    ["no version", '{"shards":{}}', /Checkpoint file \/x\/cp\.json is not a stream checkpoint file\. Delete/],
    [
      "a number where a sequence number belongs",
      '{"version":1,"shards":{"s":7}}',
      /not a stream checkpoint file/,
    ],
    ["shards as an array", '{"version":1,"shards":[]}', /not a stream checkpoint file/],
    ["null", "null", /not a stream checkpoint file/],
  ])("names the file and a fix when it holds %s", (_, text, message) => {
    expect(() => parseCheckpointFile(text, "/x/cp.json")).toThrow(message);
  });
});
