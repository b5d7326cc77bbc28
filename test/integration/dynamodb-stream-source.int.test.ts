import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteItemCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  PutItemCommand,
  UpdateItemCommand,
  UpdateTableCommand,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTableInput } from "../../src/adapters/dynamo/table-definition.js";
import {
  createDynamoStreamSource,
  createFileCheckpointStore,
  createMemoryCheckpointStore,
  type DynamoStreamSource,
  type DynamoStreamSourceOptions,
  type StreamRecordFailure,
} from "../../src/local/dynamodb-stream-source.js";
import { type TestTable, useTestTable } from "../helpers/dynamo.js";

/**
 * The stream poller against DynamoDB Local's real stream. Every test writes to a table of its own
 * (created next to the helper's table and dropped after the file), so no test sees another's records.
 * Retries use a no-op sleep and tiny delays; the assertions count real deliveries per eventID.
 */
describe("DynamoDB stream source over DynamoDB Local", () => {
  let table: TestTable;
  const tables: string[] = [];
  const sources: DynamoStreamSource[] = [];
  const tempDirs: string[] = [];

  beforeAll(async () => {
    table = await useTestTable();
  });

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((source) => source.stop()));
  });

  afterAll(async () => {
    await Promise.all([
      ...tables.map((name) => table.raw.send(new DeleteTableCommand({ TableName: name }))),
      ...tempDirs.map((dir) => rm(dir, { recursive: true, force: true })),
    ]);
  });

  async function freshTable(): Promise<string> {
    const name = `${table.tableName}-s-${randomUUID().slice(0, 6)}`;
    await table.raw.send(new CreateTableCommand(createTableInput(name)));
    tables.push(name);
    return name;
  }

  const key = (pk: string): Record<string, AttributeValue> => ({ PK: { S: pk }, SK: { S: "ITEM" } });

  async function put(tableName: string, pk: string, extra: Record<string, AttributeValue> = {}) {
    await table.raw.send(new PutItemCommand({ TableName: tableName, Item: { ...key(pk), ...extra } }));
  }

  /** Writes items `${prefix}0` … with `n` = their index, one after another (so in stream order). */
  async function putMany(tableName: string, count: number, prefix = "item-") {
    for (let n = 0; n < count; n++) await put(tableName, `${prefix}${n}`, { n: { N: String(n) } });
  }

  const pkOf = (record: DynamoDBRecord) => record.dynamodb?.Keys?.PK?.S;
  const seqOf = (record: DynamoDBRecord) => record.dynamodb?.SequenceNumber ?? "";

  /**
   * A handler that records every invocation and which records it processed successfully (a throw:
   * none; a `batchItemFailures` answer: those before the lowest reported record).
   */
  function recordingHandler(
    behaviour: (
      event: DynamoDBStreamEvent,
      call: number,
    ) => Promise<DynamoDBBatchResponse | undefined> = async () => undefined,
  ) {
    const calls: DynamoDBRecord[][] = [];
    const processed: DynamoDBRecord[] = [];
    const handler = async (event: DynamoDBStreamEvent) => {
      calls.push(event.Records);
      const response = await behaviour(event, calls.length);
      const failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      const inBatch = new Set(event.Records.map(seqOf));
      // As on Lambda, an identifier that is not in the batch fails all of it.
      const firstFailed = [...failed].some((id) => !inBatch.has(id))
        ? 0
        : event.Records.findIndex((record) => failed.has(seqOf(record)));
      processed.push(...(firstFailed === -1 ? event.Records : event.Records.slice(0, firstFailed)));
      return response;
    };
    const processedCount = (eventID: string | undefined) =>
      processed.filter((record) => record.eventID === eventID).length;
    return { handler, calls, processed, processedCount };
  }

  /** A memory checkpoint store that also lists every save, in order. */
  function recordingCheckpoints() {
    const store = createMemoryCheckpointStore();
    const saves: string[] = [];
    return {
      saves,
      store: {
        load: () => store.load(),
        save: async (shardId: string, sequenceNumber: string) => {
          saves.push(sequenceNumber);
          await store.save(shardId, sequenceNumber);
        },
      },
    };
  }

  /** The item key of each saved checkpoint, from the records the handler was given. */
  const savedKeys = (saves: string[], calls: DynamoDBRecord[][]) => {
    const pkBySequence = new Map(calls.flat().map((record) => [seqOf(record), pkOf(record)]));
    return saves.map((sequenceNumber) => pkBySequence.get(sequenceNumber));
  };

  function quietLogger() {
    return { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  }

  function sourceFor(
    tableName: string,
    handler: DynamoStreamSourceOptions["handler"],
    options: Partial<DynamoStreamSourceOptions> = {},
  ): DynamoStreamSource {
    const source = createDynamoStreamSource({
      endpoint: table.endpoint,
      tableName,
      handler,
      logger: quietLogger(),
      retryDelayMs: { base: 1, max: 2 },
      sleep: async () => {},
      ...options,
    });
    sources.push(source);
    return source;
  }

  it("delivers INSERT, MODIFY and REMOVE in order, shaped as Lambda delivers them", async () => {
    const tableName = await freshTable();
    const before = Math.floor(Date.now() / 1000);
    await put(tableName, "a", { n: { N: "1" }, blob: { B: new Uint8Array([1, 2, 3]) } });
    await put(tableName, "b", { n: { N: "2" } });
    await table.raw.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: key("a"),
        UpdateExpression: "SET n = :n",
        ExpressionAttributeValues: { ":n": { N: "10" } },
      }),
    );
    await table.raw.send(new DeleteItemCommand({ TableName: tableName, Key: key("b") }));
    const after = Math.ceil(Date.now() / 1000);
    const { handler, processed } = recordingHandler();
    const source = sourceFor(tableName, handler);

    const handled = await source.drain();

    const { Table } = await table.raw.send(new DescribeTableCommand({ TableName: tableName }));
    expect(handled).toBe(4);
    expect(processed.map((r) => [r.eventName, pkOf(r)])).toEqual([
      ["INSERT", "a"],
      ["INSERT", "b"],
      ["MODIFY", "a"],
      ["REMOVE", "b"],
    ]);
    const sequenceNumbers = processed.map((r) => BigInt(seqOf(r)));
    expect(sequenceNumbers).toEqual([...sequenceNumbers].sort((x, y) => (x < y ? -1 : 1)));
    expect(new Set(processed.map((r) => r.eventID)).size).toBe(4);
    for (const record of processed) {
      expect(record).toMatchObject({
        eventSource: "aws:dynamodb",
        eventVersion: "1.1",
        awsRegion: "ddblocal",
        eventSourceARN: Table?.LatestStreamArn,
        dynamodb: { Keys: key(pkOf(record) ?? ""), StreamViewType: "NEW_AND_OLD_IMAGES" },
      });
      const created = record.dynamodb?.ApproximateCreationDateTime;
      // Epoch seconds; DynamoDB Local truncates them to the minute.
      expect(Number.isInteger(created)).toBe(true);
      expect(created).toBeGreaterThanOrEqual(before - 60);
      expect(created).toBeLessThanOrEqual(after);
      expect(record.dynamodb?.SizeBytes).toBeGreaterThan(0);
    }
    const [insertA, , modifyA, removeB] = processed as [
      DynamoDBRecord,
      DynamoDBRecord,
      DynamoDBRecord,
      DynamoDBRecord,
    ];
    expect(insertA.dynamodb?.OldImage).toBeUndefined();
    expect(insertA.dynamodb?.NewImage?.blob).toEqual({ B: "AQID" });
    expect(unmarshall(insertA.dynamodb?.NewImage as Record<string, AttributeValue>)).toMatchObject({
      PK: "a",
      n: 1,
    });
    expect(unmarshall(modifyA.dynamodb?.OldImage as Record<string, AttributeValue>)).toMatchObject({ n: 1 });
    expect(unmarshall(modifyA.dynamodb?.NewImage as Record<string, AttributeValue>)).toMatchObject({ n: 10 });
    expect(removeB.dynamodb?.NewImage).toBeUndefined();
    expect(unmarshall(removeB.dynamodb?.OldImage as Record<string, AttributeValue>)).toMatchObject({
      PK: "b",
      n: 2,
    });
    expect(source.stats()).toMatchObject({ delivered: 4, skipped: 0, givenUp: 0, failedInvocations: 0 });
  });

  it("hands the handler at most batchSize records, one batch per shard and poll", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 7);
    const { handler, calls, processed } = recordingHandler();
    const source = sourceFor(tableName, handler, { batchSize: 3, region: "eu-west-1" });

    const counts = [
      await source.pollOnce(),
      await source.pollOnce(),
      await source.pollOnce(),
      await source.pollOnce(),
    ];

    expect(counts).toEqual([3, 3, 1, 0]);
    expect(calls.map((batch) => batch.length)).toEqual([3, 3, 1]);
    expect(processed.map(pkOf)).toEqual(Array.from({ length: 7 }, (_, n) => `item-${n}`));
    expect(processed.every((r) => r.awsRegion === "eu-west-1")).toBe(true);
  });

  it("skips records the filter rejects and checkpoints past them", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 6);
    const checkpoints = createMemoryCheckpointStore();
    const { handler, calls, processed } = recordingHandler();
    const even = (record: DynamoDBRecord) => Number(record.dynamodb?.NewImage?.n?.N) % 2 === 0;
    const source = sourceFor(tableName, handler, { filter: even, checkpoints });

    const handled = await source.drain();

    expect(handled).toBe(6);
    expect(calls.map((batch) => batch.map(pkOf))).toEqual([["item-0", "item-2", "item-4"]]);
    expect(source.stats()).toMatchObject({ delivered: 3, skipped: 3 });
    // The last record (item-5) was filtered out, and the checkpoint is past it all the same.
    const [shard] = source.stats().shards;
    expect(shard?.checkpoint).toBeDefined();
    expect(Object.values(await checkpoints.load())).toEqual([shard?.checkpoint]);
    expect(BigInt(shard?.checkpoint ?? "0")).toBeGreaterThan(
      BigInt(seqOf(processed.at(-1) as DynamoDBRecord)),
    );

    const again = recordingHandler();
    expect(await sourceFor(tableName, again.handler, { filter: even, checkpoints }).drain()).toBe(0);
    expect(again.calls).toEqual([]);
  });

  it("redelivers a batch whose handler threw, with backoff, until each record is processed once", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 4);
    const delays: number[] = [];
    const { handler, calls, processed, processedCount } = recordingHandler(async (_event, call) => {
      if (call <= 2) throw new Error(`transient failure ${call}`);
      return undefined;
    });
    const source = sourceFor(tableName, handler, {
      bisectBatchOnFunctionError: false,
      retryDelayMs: { base: 8, max: 1_000 },
      sleep: async (ms) => {
        delays.push(ms);
      },
    });

    await source.drain();

    expect(calls).toHaveLength(3);
    const ids = calls.map((batch) => batch.map((r) => r.eventID));
    expect(ids[1]).toEqual(ids[0]);
    expect(ids[2]).toEqual(ids[0]);
    expect(ids[0]).toHaveLength(4);
    expect(processed).toHaveLength(4);
    for (const eventID of ids[0] ?? []) expect(processedCount(eventID)).toBe(1);
    // Equal jitter: the first retry waits 4–8 ms, the second 8–16 ms.
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(4);
    expect(delays[0]).toBeLessThanOrEqual(8);
    expect(delays[1]).toBeGreaterThanOrEqual(8);
    expect(delays[1]).toBeLessThanOrEqual(16);
    expect(source.stats()).toMatchObject({ invocations: 3, failedInvocations: 2, delivered: 4, givenUp: 0 });
  });

  it("resumes at the lowest record named in batchItemFailures without redelivering earlier ones", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 6);
    const { handler, calls, processed, processedCount } = recordingHandler(async (event, call) => {
      if (call > 1) return { batchItemFailures: [] };
      const [, , third, , fifth] = event.Records;
      return {
        batchItemFailures: [
          { itemIdentifier: seqOf(fifth as DynamoDBRecord) },
          { itemIdentifier: seqOf(third as DynamoDBRecord) },
        ],
      };
    });
    const checkpoints = recordingCheckpoints();
    const source = sourceFor(tableName, handler, { checkpoints: checkpoints.store });

    const handled = await source.pollOnce();

    expect(handled).toBe(6);
    // Just before the lowest reported record, then past the retried rest.
    expect(savedKeys(checkpoints.saves, calls)).toEqual(["item-1", "item-5"]);
    expect(calls.map((batch) => batch.map(pkOf))).toEqual([
      ["item-0", "item-1", "item-2", "item-3", "item-4", "item-5"],
      ["item-2", "item-3", "item-4", "item-5"],
    ]);
    expect(processed.map(pkOf)).toEqual(Array.from({ length: 6 }, (_, n) => `item-${n}`));
    for (const record of processed) expect(processedCount(record.eventID)).toBe(1);
    expect(source.stats().shards[0]?.checkpoint).toBe(seqOf(processed.at(-1) as DynamoDBRecord));
    expect(await source.drain()).toBe(0);
    expect(calls).toHaveLength(2);
  });

  it("fails the whole batch when batchItemFailures names a record that is not in it", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 3);
    const { handler, calls, processed } = recordingHandler(async (_event, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: "not-a-sequence-number" }] } : undefined,
    );
    const source = sourceFor(tableName, handler, { bisectBatchOnFunctionError: false });

    await source.drain();

    expect(calls.map((batch) => batch.length)).toEqual([3, 3]);
    expect(processed.map(pkOf)).toEqual(["item-0", "item-1", "item-2"]);
  });

  it("bisects a poison record out, retries it maxRetryAttempts times, hands it to onFailure once and moves on", async () => {
    const tableName = await freshTable();
    for (let n = 0; n < 8; n++) {
      await put(tableName, `item-${n}`, {
        n: { N: String(n) },
        ...(n === 5 ? { poison: { BOOL: true } } : {}),
      });
    }
    const failures: StreamRecordFailure[] = [];
    const { handler, calls, processed } = recordingHandler(async (event) => {
      if (event.Records.some((r) => r.dynamodb?.NewImage?.poison)) throw new Error("cannot digest poison");
      return undefined;
    });
    const checkpoints = recordingCheckpoints();
    const source = sourceFor(tableName, handler, {
      maxRetryAttempts: 2,
      checkpoints: checkpoints.store,
      onFailure: async (info) => {
        expect(savedKeys(checkpoints.saves, calls).at(-1)).toBe("item-4");
        failures.push(info);
      },
    });

    await source.drain();

    // [0-7] fails → [0-3] ok, [4-7] fails → [4,5] fails → [4] ok, [5] fails 1 + 2 times → [6,7] ok.
    expect(calls.map((batch) => batch.length)).toEqual([8, 4, 4, 2, 1, 1, 1, 1, 2]);
    expect(
      calls.filter((batch) => batch.length === 1 && pkOf(batch[0] as DynamoDBRecord) === "item-5"),
    ).toHaveLength(3);
    expect(processed.map(pkOf)).toEqual([
      "item-0",
      "item-1",
      "item-2",
      "item-3",
      "item-4",
      "item-6",
      "item-7",
    ]);
    expect(failures).toHaveLength(1);
    expect(pkOf(failures[0]?.record as DynamoDBRecord)).toBe("item-5");
    expect(failures[0]?.attempts).toBe(3);
    expect(failures[0]?.error).toEqual(new Error("cannot digest poison"));
    expect(source.stats()).toMatchObject({ delivered: 7, givenUp: 1 });
    // The poison record is passed only once onFailure has it.
    expect(savedKeys(checkpoints.saves, calls)).toEqual(["item-3", "item-4", "item-5", "item-7"]);
    expect(source.stats().shards[0]?.checkpoint).toBe(seqOf(processed.at(-1) as DynamoDBRecord));
  });

  it("gives a failing record up at once when it is older than maxRecordAgeSeconds, as Lambda does", async () => {
    const tableName = await freshTable();
    await put(tableName, "item-old", { n: { N: "1" } });
    const failures: StreamRecordFailure[] = [];
    const { handler, calls } = recordingHandler(async () => {
      // DynamoDB Local stamps records to the minute (older, never younger): after this it is > 1 s old.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      throw new Error("Postgres is unavailable");
    });
    const source = sourceFor(tableName, handler, {
      maxRetryAttempts: -1,
      maxRecordAgeSeconds: 1,
      onFailure: async (info) => {
        failures.push(info);
      },
    });

    await source.drain();

    expect(calls).toHaveLength(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ condition: "RecordAgeExceeded", attempts: 1 });
    expect(failures[0]?.shardId).toBe(source.stats().shards[0]?.shardId);
    expect(source.stats()).toMatchObject({ delivered: 0, givenUp: 1 });
  });

  it("without bisection gives an exhausted batch up whole, in order; without onFailure it logs each record", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 3);
    await put(tableName, "after");
    const logger = quietLogger();
    const { handler, calls, processed } = recordingHandler(async (event) => {
      if (event.Records.some((r) => r.dynamodb?.NewImage?.n?.N === "1")) throw new Error("bad record");
      return undefined;
    });
    const source = sourceFor(tableName, handler, {
      batchSize: 3,
      bisectBatchOnFunctionError: false,
      maxRetryAttempts: 1,
      logger,
    });

    await source.drain();

    expect(calls.map((batch) => batch.map(pkOf))).toEqual([
      ["item-0", "item-1", "item-2"],
      ["item-0", "item-1", "item-2"],
      ["after"],
    ]);
    expect(processed.map(pkOf)).toEqual(["after"]);
    const givenUp = logger.error.mock.calls.filter(([message]) => String(message).startsWith("Giving up"));
    expect(givenUp.map(([, details]) => details)).toEqual(
      ["item-0", "item-1", "item-2"].map((pk) =>
        expect.objectContaining({
          keys: key(pk),
          sequenceNumber: expect.stringMatching(/^\d+$/),
          attempts: 2,
        }),
      ),
    );
    expect(source.stats().givenUp).toBe(3);
  });

  it("does not pass a record whose onFailure threw: the next poll retries it", async () => {
    const tableName = await freshTable();
    await put(tableName, "poison", { poison: { BOOL: true } });
    await put(tableName, "good");
    let onFailureCalls = 0;
    const { handler, processed } = recordingHandler(async (event) => {
      if (event.Records.some((r) => r.dynamodb?.NewImage?.poison)) throw new Error("poison");
      return undefined;
    });
    const source = sourceFor(tableName, handler, {
      maxRetryAttempts: 0,
      onFailure: async () => {
        onFailureCalls++;
        if (onFailureCalls === 1) throw new Error("destination unavailable");
      },
    });

    expect(await source.pollOnce()).toBe(0);
    expect(processed).toEqual([]);
    expect(source.stats().shards[0]?.checkpoint).toBeUndefined();

    await source.drain();

    expect(onFailureCalls).toBe(2);
    expect(processed.map(pkOf)).toEqual(["good"]);
  });

  it("resumes from a checkpoint file in a new source without redelivering", async () => {
    const tableName = await freshTable();
    const dir = await mkdtemp(join(tmpdir(), "stream-checkpoints-"));
    tempDirs.push(dir);
    const path = join(dir, "nested", "checkpoints.json");
    await putMany(tableName, 3, "first-");
    const first = recordingHandler();
    const firstSource = sourceFor(tableName, first.handler, { checkpoints: createFileCheckpointStore(path) });
    expect(await firstSource.drain()).toBe(3);
    await firstSource.stop();

    const saved = JSON.parse(await readFile(path, "utf8"));
    const shardId = firstSource.stats().shards[0]?.shardId as string;
    expect(saved).toEqual({
      version: 1,
      shards: { [shardId]: seqOf(first.processed.at(-1) as DynamoDBRecord) },
    });
    expect((await readdir(join(dir, "nested"))).filter((name) => name.endsWith(".tmp"))).toEqual([]);

    await putMany(tableName, 2, "second-");
    const second = recordingHandler();
    const secondSource = sourceFor(tableName, second.handler, {
      checkpoints: createFileCheckpointStore(path),
    });
    expect(await secondSource.drain()).toBe(2);
    expect(second.processed.map(pkOf)).toEqual(["second-0", "second-1"]);

    await writeFile(path, "{ not json");
    const broken = sourceFor(tableName, async () => undefined, {
      checkpoints: createFileCheckpointStore(path),
    });
    await expect(broken.pollOnce()).rejects.toThrow(
      new RegExp(`Checkpoint file ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not valid JSON.*Delete`),
    );
    await writeFile(path, JSON.stringify({ version: 1, shards: { [shardId]: 42 } }));
    await expect(createFileCheckpointStore(path).load()).rejects.toThrow(/is not a stream checkpoint file/);
  });

  it("starts after the existing records with LATEST", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 3, "old-");
    const { handler, processed } = recordingHandler();
    const source = sourceFor(tableName, handler, { startingPosition: "LATEST" });

    expect(await source.pollOnce()).toBe(0);
    await putMany(tableName, 2, "new-");
    await source.drain();

    expect(processed.map(pkOf)).toEqual(["new-0", "new-1"]);
  });

  it("reads a closed shard to its end, then marks it finished and stays on its stream", async () => {
    const tableName = await freshTable();
    await putMany(tableName, 2);
    const { handler, processed } = recordingHandler();
    const source = sourceFor(tableName, handler);
    expect(await source.pollOnce()).toBe(2);
    await put(tableName, "last-before-close");
    await table.raw.send(
      new UpdateTableCommand({ TableName: tableName, StreamSpecification: { StreamEnabled: false } }),
    );

    await source.drain();

    expect(processed.map(pkOf)).toEqual(["item-0", "item-1", "last-before-close"]);
    expect(source.stats().shards).toEqual([
      expect.objectContaining({
        closed: true,
        finished: true,
        checkpoint: seqOf(processed.at(-1) as DynamoDBRecord),
      }),
    ]);
    // A LATEST source that starts now skips the shard that was already closed.
    const latest = recordingHandler();
    const latecomer = sourceFor(tableName, latest.handler, { startingPosition: "LATEST" });
    expect(await latecomer.drain()).toBe(0);
    expect(latest.calls).toEqual([]);
    expect(latecomer.stats().shards).toEqual([expect.objectContaining({ closed: true, finished: true })]);
    // Enabling the stream again creates a new stream; like an event source mapping, a source stays on its own.
    await table.raw.send(
      new UpdateTableCommand({
        TableName: tableName,
        StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
      }),
    );
    await put(tableName, "on-new-stream");
    expect(await source.drain()).toBe(0);
    expect(processed).toHaveLength(3);
    const fresh = recordingHandler();
    await sourceFor(tableName, fresh.handler).drain();
    expect(fresh.processed.map(pkOf)).toEqual(["on-new-stream"]);
  });

  it("stop() waits for the handler in flight and then polls no more", async () => {
    const tableName = await freshTable();
    const events: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const source = sourceFor(
      tableName,
      async (event) => {
        events.push(`handler started with ${event.Records.length}`);
        await gate;
        events.push("handler finished");
        return undefined;
      },
      { pollIntervalMs: 10 },
    );
    source.start();
    await put(tableName, "slow");
    await vi.waitFor(() => expect(events).toEqual(["handler started with 1"]), { timeout: 5_000 });

    const stopped = source.stop().then(() => events.push("stopped"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual(["handler started with 1"]);
    release();
    await stopped;

    expect(events).toEqual(["handler started with 1", "handler finished", "stopped"]);
    const stats = source.stats();
    expect(stats.running).toBe(false);
    expect(stats.delivered).toBe(1);
    expect(stats.shards[0]?.checkpoint).toMatch(/^\d+$/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(source.stats().polls).toBe(stats.polls);
  });

  it("stop() ends endless retries without passing the failing record", async () => {
    const tableName = await freshTable();
    await put(tableName, "never");
    const checkpoints = createMemoryCheckpointStore();
    let invocations = 0;
    const source = sourceFor(
      tableName,
      async () => {
        invocations++;
        throw new Error("always");
      },
      {
        checkpoints,
        maxRetryAttempts: -1,
        pollIntervalMs: 10,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      },
    );
    source.start();
    await vi.waitFor(() => expect(invocations).toBeGreaterThanOrEqual(5), { timeout: 5_000 });

    await source.stop();

    expect(source.stats()).toMatchObject({ givenUp: 0, delivered: 0 });
    expect(source.stats().shards[0]?.checkpoint).toBeUndefined();
    expect(await checkpoints.load()).toEqual({});
    const resumed = recordingHandler();
    await sourceFor(tableName, resumed.handler, { checkpoints }).drain();
    expect(resumed.processed.map(pkOf)).toEqual(["never"]);
  });

  it("refuses endpoints that are not loopback and batch sizes Lambda would refuse", () => {
    const base = { tableName: "t", handler: async () => undefined };
    expect(() =>
      createDynamoStreamSource({ ...base, endpoint: "https://dynamodb.us-east-1.amazonaws.com" }),
    ).toThrow(/Refusing non-local DynamoDB endpoint/);
    expect(() => createDynamoStreamSource({ ...base, endpoint: table.endpoint, batchSize: 1001 })).toThrow(
      /batchSize must be an integer from 1 to 1000/,
    );
  });
});
