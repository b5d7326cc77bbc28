import type { DynamoDBRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { oldestAgeSeconds } from "../../src/adapters/dynamo/stream-records.js";
import { createPageProcessor } from "../../src/local/stream/batch.js";
import { createCheckpoints, createMemoryCheckpointStore } from "../../src/local/stream/checkpoints.js";
import { invokeHandler } from "../../src/local/stream/invoke.js";
import { iteratorRequest } from "../../src/local/stream/iterators.js";
import type { ShardState } from "../../src/local/stream/shards.js";

const record = (sequence: string, created?: number): DynamoDBRecord => ({
  eventName: "INSERT",
  dynamodb: { SequenceNumber: sequence, ...(created ? { ApproximateCreationDateTime: created } : {}) },
});

describe("checkpoints", () => {
  it("load what the store holds and only ever move forward", async () => {
    const store = createMemoryCheckpointStore({ s1: "200" });
    const checkpoints = createCheckpoints(store);
    await checkpoints.load();
    expect(checkpoints.get("s1")).toBe("200");
    expect(checkpoints.size).toBe(1);
    await checkpoints.advance("s1", "100");
    await checkpoints.advance("s1", "200");
    await checkpoints.advance("s1", undefined);
    expect(await store.load()).toEqual({ s1: "200" });
    await checkpoints.advance("s1", "1000");
    await checkpoints.advance("s2", "5");
    expect(await store.load()).toEqual({ s1: "1000", s2: "5" });
  });

  it("forget a shard in memory only", async () => {
    const store = createMemoryCheckpointStore({ s1: "9" });
    const checkpoints = createCheckpoints(store);
    await checkpoints.load();
    checkpoints.delete("s1");
    expect(checkpoints.has("s1")).toBe(false);
    await checkpoints.advance("s1", "3");
    expect(await store.load()).toEqual({ s1: "3" });
  });

  it("do not record a checkpoint the store failed to save", async () => {
    const checkpoints = createCheckpoints({
      load: async () => ({}),
      save: async () => {
        throw new Error("disk full");
      },
    });
    await expect(checkpoints.advance("s1", "1")).rejects.toThrow("disk full");
    expect(checkpoints.has("s1")).toBe(false);
  });
});

describe("invokeHandler", () => {
  const records = [record("1"), record("2"), record("3")];

  it("is ok when the handler returns nothing or no failures", async () => {
    expect(await invokeHandler(async () => undefined, records)).toEqual({ kind: "ok" });
    expect(await invokeHandler(async () => ({ batchItemFailures: [] }), records)).toEqual({ kind: "ok" });
  });

  it("fails from the lowest reported record", async () => {
    const outcome = await invokeHandler(
      async () => ({ batchItemFailures: [{ itemIdentifier: "3" }, { itemIdentifier: "2" }] }),
      records,
    );
    expect(outcome).toMatchObject({ kind: "failed", from: 1 });
  });

  it("fails the whole batch on a throw, a non-array or an unknown identifier", async () => {
    const boom = new Error("boom");
    expect(
      await invokeHandler(async () => {
        throw boom;
      }, records),
    ).toEqual({ kind: "failed", from: 0, error: boom });
    const notArray = async () => ({ batchItemFailures: "x" }) as never;
    expect(await invokeHandler(notArray, records)).toMatchObject({ kind: "failed", from: 0 });
    expect(
      await invokeHandler(async () => ({ batchItemFailures: [{ itemIdentifier: "99" }] }), records),
    ).toMatchObject({ kind: "failed", from: 0 });
  });

  it("hands the handler a copy, so its mutations do not reach the next attempt", async () => {
    await invokeHandler(async (event) => {
      (event.Records[0] as DynamoDBRecord).eventName = "REMOVE";
    }, records);
    expect(records[0]?.eventName).toBe("INSERT");
  });
});

describe("iteratorRequest", () => {
  it("resumes at a record, else after the checkpoint, else at the initial position", () => {
    expect(iteratorRequest({ resumeAt: "5", initialPosition: "LATEST" }, "3")).toEqual({
      ShardIteratorType: "AT_SEQUENCE_NUMBER",
      SequenceNumber: "5",
    });
    expect(iteratorRequest({ initialPosition: "LATEST" }, "3")).toEqual({
      ShardIteratorType: "AFTER_SEQUENCE_NUMBER",
      SequenceNumber: "3",
    });
    expect(iteratorRequest({ initialPosition: "TRIM_HORIZON" }, undefined)).toEqual({
      ShardIteratorType: "TRIM_HORIZON",
    });
  });
});

describe("oldestAgeSeconds", () => {
  it("is the age of the oldest stamped record, 0 without stamps", () => {
    expect(oldestAgeSeconds([record("1", 100), record("2", 40), record("3")], 160_000)).toBe(120);
    expect(oldestAgeSeconds([record("1")], 160_000)).toBe(0);
  });
});

describe("createPageProcessor", () => {
  const setup = (handler: (sequences: string[]) => void, onFailure?: (sequence: string) => void) => {
    const store = createMemoryCheckpointStore();
    const counters = { polls: 0, invocations: 0, failedInvocations: 0, delivered: 0, skipped: 0, givenUp: 0 };
    const silent = { info: () => {}, warn: () => {}, error: () => {} };
    const process = createPageProcessor({
      handler: async (event) => handler(event.Records.map((r) => r.dynamodb?.SequenceNumber ?? "")),
      ...(onFailure
        ? { onFailure: async (info) => onFailure(info.record.dynamodb?.SequenceNumber ?? "") }
        : {}),
      maxRetryAttempts: 2,
      bisectBatchOnFunctionError: true,
      retryDelayMs: { base: 1, max: 1 },
      checkpoints: createCheckpoints(store),
      counters,
      logger: silent,
      sleep: async () => {},
      stopping: () => false,
    });
    const shard: ShardState = {
      shardId: "s1",
      finished: false,
      busy: false,
      closed: false,
      initialPosition: "TRIM_HORIZON",
    };
    return { process, store, counters, shard };
  };

  it("bisects a poison record out, retries it, gives it up and checkpoints the page's end", async () => {
    const given: string[] = [];
    const { process, store, counters, shard } = setup(
      (sequences) => {
        if (sequences.includes("3")) throw new Error("poison");
      },
      (sequence) => given.push(sequence),
    );
    const page = ["1", "2", "3", "4"].map((s) => record(s));
    expect(await process(shard, page)).toEqual({ handled: 3, complete: true });
    expect(given).toEqual(["3"]);
    expect(counters).toMatchObject({ delivered: 3, givenUp: 1 });
    expect(await store.load()).toEqual({ s1: "4" });
  });

  it("stops at a record whose onFailure throws, checkpointing just before it", async () => {
    const { process, store, shard } = setup(
      (sequences) => {
        if (sequences.includes("2")) throw new Error("poison");
      },
      () => {
        throw new Error("destination down");
      },
    );
    expect(
      await process(
        shard,
        ["1", "2", "3"].map((s) => record(s)),
      ),
    ).toEqual({ handled: 1, complete: false });
    expect(shard.resumeAt).toBe("2");
    expect(await store.load()).toEqual({ s1: "1" });
  });
});
