import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { DescribeTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  type _Record,
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type AttributeValue as SdkAttributeValue,
  type ShardIteratorType,
} from "@aws-sdk/client-dynamodb-streams";
import type {
  DynamoDBBatchItemFailure,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  AttributeValue as LambdaAttributeValue,
} from "aws-lambda";
import { createDynamoClient, isLoopbackEndpoint } from "../adapters/dynamo/client.js";

/**
 * A local stand-in for a Lambda DynamoDB event source mapping (with `ReportBatchItemFailures`):
 * polls the table's stream in DynamoDB Local and invokes a handler with real `DynamoDBStreamEvent`s.
 *
 * What DynamoDB Local 3.x does differently from AWS (found by probing it):
 * - Stream ARNs and each record's `awsRegion` say region `ddblocal` and account `000000000000`,
 *   whatever region the client signs with.
 * - `ApproximateCreationDateTime` arrives as epoch seconds truncated to the whole minute (AWS: the
 *   second). The SDK turns it into a `Date`; records here carry epoch seconds, as Lambda delivers.
 * - Binary attributes (`B`, `BS`) come back from the SDK as bytes; Lambda delivers base64 strings,
 *   and so does this source.
 * - A stream has a single shard, which does not roll over (5 000 writes stayed in one shard; AWS
 *   starts a new shard about every four hours). Disabling the stream closes the shard (it gets an
 *   `EndingSequenceNumber` and `GetRecords` stops returning a `NextShardIterator`); enabling it again
 *   creates a new stream with a new ARN. Parent/child ordering is therefore only exercised on AWS-like
 *   shard graphs, which the unit tests cover.
 * - `GetShardIterator` with `AFTER_SEQUENCE_NUMBER` beyond the shard's end fails with a 500
 *   `InternalFailure` (AWS: a 400). A checkpoint from another DynamoDB Local database could do that;
 *   the error is surfaced rather than guessed around, since restarting elsewhere could skip records.
 * - `GetRecords` refuses `Limit` > 1000, like AWS; shard iterators stay usable after use.
 */

export type StartingPosition = "TRIM_HORIZON" | "LATEST";

/** Where a consumer got to: the last processed sequence number of each shard. */
export interface CheckpointStore {
  load(): Promise<Record<string, string>>;
  save(shardId: string, sequenceNumber: string): Promise<void>;
}

/** A record the source gave up on after its retries. */
export interface StreamRecordFailure {
  record: DynamoDBRecord;
  /** The shard the record was read from. */
  shardId: string;
  /**
   * Why it was given up on, as Lambda's on-failure condition says: `RetryAttemptsExhausted` or
   * `RecordAgeExceeded` (older than `maxRecordAgeSeconds` when its batch failed).
   */
  condition: "RetryAttemptsExhausted" | "RecordAgeExceeded";
  /** What the last attempt threw, or an `Error` saying the handler reported the record as failed. */
  error: unknown;
  /**
   * Failed invocations of the batch the record was given up with: 1 + `maxRetryAttempts` (with
   * bisection that batch is the record alone; earlier, larger batches that failed are not counted).
   */
  attempts: number;
}

export interface StreamSourceLogger {
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

/**
 * A Lambda DynamoDB stream handler without the context: resolving to nothing or to an empty
 * `batchItemFailures` means the whole batch succeeded.
 */
export type DynamoStreamHandler = (
  event: DynamoDBStreamEvent,
  // biome-ignore lint/suspicious/noConfusingVoidType: handlers returning nothing are `Promise<void>`, as Lambda's own DynamoDBStreamHandler allows
) => Promise<DynamoDBBatchResponse | undefined | void>;

export interface DynamoStreamSourceOptions {
  /** DynamoDB Local; anything that is not a loopback URL is refused. */
  endpoint: string;
  /**
   * Signing region of the clients (default "local"). When given, it is also the `awsRegion` of the
   * delivered records; otherwise they keep the region DynamoDB Local reports (`ddblocal`), which
   * matches the stream ARN.
   */
  region?: string;
  tableName: string;
  /** The consuming function: same signature as the Lambda handler. */
  handler: DynamoStreamHandler;
  /** Records read per shard and invocation (Lambda's BatchSize): default 100, at most 1000. */
  batchSize?: number;
  /** Where shards without a checkpoint start when the source first sees them (default TRIM_HORIZON). */
  startingPosition?: StartingPosition;
  /**
   * Lambda's filter criteria: records it rejects are never handed to the handler but are
   * checkpointed. It must not throw (a throw fails the shard's poll, which is then tried again).
   */
  filter?: (record: DynamoDBRecord) => boolean;
  /** Retries of a failing batch before its records are given up on: default 10; -1 retries forever. */
  maxRetryAttempts?: number;
  /**
   * Lambda's MaximumRecordAgeInSeconds: a failing batch whose oldest record is older than this is
   * given up on at once instead of retried (default: no limit). Checked when a batch fails: a stack
   * restarted after a long stop still processes old records once (Lambda would drop them unread).
   * DynamoDB Local stamps records to the minute, so the age is up to a minute high.
   */
  maxRecordAgeSeconds?: number;
  /** Split a failing batch in halves and retry each (default true); splitting uses no retry. */
  bisectBatchOnFunctionError?: boolean;
  /**
   * The on-failure destination: called once per record given up on, in stream order, and then the
   * source moves past it. If it throws, the record is not passed: the shard resumes from it at the
   * next poll. Without it, each given-up record is logged as an error with its keys.
   */
  onFailure?: (info: StreamRecordFailure) => Promise<void>;
  /** Default: in memory, so a new source starts over at `startingPosition`. */
  checkpoints?: CheckpointStore;
  /** Idle wait of the background loop when a poll finds nothing (default 500). */
  pollIntervalMs?: number;
  /** How often the background loop looks for new shards (default 10 000); a closed shard also triggers a look. */
  shardRefreshIntervalMs?: number;
  /**
   * Jittered exponential backoff between failed attempts of the same batch (default 100 ms doubling
   * to 5 s). Halves produced by bisection are tried at once.
   */
  retryDelayMs?: { base: number; max: number };
  /** Gets shard ids, sequence numbers, keys and error messages; never item images. */
  logger?: StreamSourceLogger;
  /** Waits between retries; tests pass a no-op. The background loop's idle wait is separate, so `stop()` cuts it short. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ShardStatus {
  shardId: string;
  parentShardId?: string;
  /** DescribeStream shows an ending sequence number. */
  closed: boolean;
  /** Read to its end and fully processed (or skipped because the source started at LATEST). */
  finished: boolean;
  checkpoint?: string;
}

export interface DynamoStreamSourceStats {
  streamArn?: string;
  polls: number;
  invocations: number;
  failedInvocations: number;
  /** Records the handler processed successfully. */
  delivered: number;
  /** Records the filter rejected. */
  skipped: number;
  /** Records given up on (handed to `onFailure`, or logged). */
  givenUp: number;
  running: boolean;
  lastError?: string;
  shards: ShardStatus[];
}

export interface DynamoStreamSource {
  /**
   * Reads and processes at most one batch per shard (retries included) and resolves to the records
   * the handler processed successfully plus those the filter skipped. Stream and checkpoint errors
   * reject, after every shard's batch has settled.
   */
  pollOnce(): Promise<number>;
  /**
   * Polls until `idlePolls` (default 1) polls in a row find nothing new; resolves to the sum of the
   * polls' counts. Rejects when the stream is still busy after `maxPolls` (default 1000).
   */
  drain(options?: { maxPolls?: number; idlePolls?: number }): Promise<number>;
  /** Polls in the background until `stop()`; errors are logged and retried with backoff. */
  start(): void;
  /**
   * Ends the background loop. A batch in flight finishes its current handler call but starts no
   * retry (its shard resumes from the unprocessed record next time); resolves once it has settled.
   */
  stop(): Promise<void>;
  stats(): DynamoStreamSourceStats;
}

const DEFAULT_BATCH_SIZE = 100;
const MAX_BATCH_SIZE = 1000;
const DEFAULT_MAX_RETRY_ATTEMPTS = 10;
const DEFAULT_RETRY_DELAY_MS = { base: 100, max: 5_000 };
const DEFAULT_POLL_INTERVAL_MS = 500;
const DEFAULT_SHARD_REFRESH_INTERVAL_MS = 10_000;
const DEFAULT_MAX_POLLS = 1000;
/** Fake credentials: DynamoDB Local with `-sharedDb` ignores them. */
const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

/** Orders two DynamoDB stream sequence numbers (decimal strings of any length). */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** What `pollOnce` needs to know about a shard to decide whether it may be read now. */
export interface ShardReadiness {
  shardId: string;
  parentShardId?: string | undefined;
  finished: boolean;
  busy: boolean;
}

/**
 * The shards that may be read now: not finished, not already being read, and with no parent still
 * to finish. A parent the stream no longer lists (trimmed) does not hold its children back.
 */
export function readyShards<T extends ShardReadiness>(shards: readonly T[]): T[] {
  const byId = new Map(shards.map((shard) => [shard.shardId, shard]));
  return shards.filter((shard) => {
    if (shard.finished || shard.busy) return false;
    const parent = shard.parentShardId ? byId.get(shard.parentShardId) : undefined;
    return parent === undefined || parent.finished;
  });
}

/** Backoff before retry `attempt` (1-based): exponential, capped, with equal jitter. */
export function retryDelay(
  attempt: number,
  { base, max }: { base: number; max: number },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function toLambdaAttribute(value: SdkAttributeValue): LambdaAttributeValue {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString("base64") };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString("base64")) };
  if (value.L !== undefined) return { L: value.L.map(toLambdaAttribute) };
  if (value.M !== undefined) return { M: toLambdaMap(value.M) };
  return value as LambdaAttributeValue;
}

function toLambdaMap(map: Record<string, SdkAttributeValue>): Record<string, LambdaAttributeValue> {
  return Object.fromEntries(Object.entries(map).map(([name, value]) => [name, toLambdaAttribute(value)]));
}

function toLambdaImage(
  image: Record<string, SdkAttributeValue> | undefined,
): Record<string, LambdaAttributeValue> | undefined {
  return image ? toLambdaMap(image) : undefined;
}

/**
 * Converts a record from `GetRecords` into the record a Lambda DynamoDB event carries: epoch seconds
 * for `ApproximateCreationDateTime`, base64 for binary attributes, the stream ARN as `eventSourceARN`.
 */
export function toDynamoDBRecord(record: _Record, streamArn: string, region?: string): DynamoDBRecord {
  const stream = record.dynamodb ?? {};
  const created = stream.ApproximateCreationDateTime;
  return {
    eventID: record.eventID,
    eventName: record.eventName,
    eventVersion: record.eventVersion,
    eventSource: record.eventSource ?? "aws:dynamodb",
    awsRegion: region ?? record.awsRegion,
    dynamodb: {
      ...(created ? { ApproximateCreationDateTime: Math.floor(created.getTime() / 1000) } : {}),
      Keys: toLambdaImage(stream.Keys),
      ...(stream.NewImage ? { NewImage: toLambdaImage(stream.NewImage) } : {}),
      ...(stream.OldImage ? { OldImage: toLambdaImage(stream.OldImage) } : {}),
      SequenceNumber: stream.SequenceNumber,
      SizeBytes: stream.SizeBytes,
      StreamViewType: stream.StreamViewType,
    },
    ...(record.userIdentity
      ? { userIdentity: { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId } }
      : {}),
    eventSourceARN: streamArn,
  };
}

/** Checkpoints kept in this process only. */
export function createMemoryCheckpointStore(initial: Record<string, string> = {}): CheckpointStore {
  const checkpoints = new Map(Object.entries(initial));
  return {
    async load() {
      return Object.fromEntries(checkpoints);
    },
    async save(shardId, sequenceNumber) {
      checkpoints.set(shardId, sequenceNumber);
    },
  };
}

interface CheckpointFile {
  version: 1;
  shards: Record<string, string>;
}

/** Reads a checkpoint file's text; throws a message naming the file and a fix when it is not one. */
export function parseCheckpointFile(text: string, path: string): Record<string, string> {
  const fix = `Delete ${path} to read the stream again from the starting position, or restore it to the form {"version":1,"shards":{"<shardId>":"<sequenceNumber>"}}.`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`Checkpoint file ${path} is not valid JSON (${(error as Error).message}). ${fix}`);
  }
  const shards = (parsed as Partial<CheckpointFile> | null)?.shards;
  const valid =
    typeof parsed === "object" &&
    parsed !== null &&
    (parsed as Partial<CheckpointFile>).version === 1 &&
    typeof shards === "object" &&
    shards !== null &&
    !Array.isArray(shards) &&
    Object.values(shards).every((seq) => typeof seq === "string" && /^\d+$/.test(seq));
  if (!valid) throw new Error(`Checkpoint file ${path} is not a stream checkpoint file. ${fix}`);
  return { ...shards };
}

/**
 * Checkpoints in a JSON file, so a restarted local stack resumes where it stopped. Every save
 * rewrites the file through a synced temporary file and a rename, so a crash leaves either the old
 * or the new file, never half of one. Saves are serialised.
 */
export function createFileCheckpointStore(path: string): CheckpointStore {
  let checkpoints: Map<string, string> | undefined;
  let writes: Promise<void> = Promise.resolve();

  const read = async (): Promise<Map<string, string>> => {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Map();
      throw error;
    }
    return new Map(Object.entries(parseCheckpointFile(text, path)));
  };

  const write = async (snapshot: Record<string, string>) => {
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    const body: CheckpointFile = { version: 1, shards: snapshot };
    try {
      const file = await open(temp, "w");
      try {
        await file.writeFile(`${JSON.stringify(body, null, 2)}\n`, "utf8");
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  };

  return {
    async load() {
      checkpoints = await read();
      return Object.fromEntries(checkpoints);
    },
    save(shardId, sequenceNumber) {
      const next = writes.then(async () => {
        checkpoints ??= await read();
        checkpoints.set(shardId, sequenceNumber);
        await write(Object.fromEntries(checkpoints));
      });
      // One failed write must not wedge every later one; the caller still sees its own failure.
      writes = next.catch(() => {});
      return next;
    },
  };
}

interface ShardState extends ShardReadiness {
  closed: boolean;
  /** Position for a shard without checkpoint: the source's starting position, or TRIM_HORIZON for shards found later. */
  initialPosition: StartingPosition;
  iterator?: string | undefined;
  /** First record not processed when a batch was abandoned; the next read starts at it. */
  resumeAt?: string | undefined;
}

type InvokeOutcome = { kind: "ok" } | { kind: "failed"; from: number; error: unknown };

interface Segment {
  records: DynamoDBRecord[];
  /** Failed invocations of exactly this segment. */
  attempts: number;
}

const sequenceOf = (record: DynamoDBRecord): string => record.dynamodb?.SequenceNumber ?? "";

/** Age in seconds of the oldest record (ApproximateCreationDateTime); 0 when none says. */
function oldestAgeSeconds(records: readonly DynamoDBRecord[], nowMs = Date.now()): number {
  const stamps = records.flatMap((r) => {
    const created = r.dynamodb?.ApproximateCreationDateTime;
    return typeof created === "number" ? [created] : [];
  });
  return stamps.length === 0 ? 0 : nowMs / 1000 - Math.min(...stamps);
}

const consoleLogger: StreamSourceLogger = {
  info: (message, details) => console.info(`[dynamodb-stream-source] ${message}`, details ?? ""),
  warn: (message, details) => console.warn(`[dynamodb-stream-source] ${message}`, details ?? ""),
  error: (message, details) => console.error(`[dynamodb-stream-source] ${message}`, details ?? ""),
};

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * A Lambda DynamoDB event source mapping for local runs and tests. Records of a shard are delivered
 * strictly in order, one batch at a time; different shards run in parallel, and a child shard waits
 * until its parent is closed and fully processed.
 *
 * Failures work as on Lambda with `ReportBatchItemFailures`: a throw fails the whole batch; a
 * `batchItemFailures` response means every record before the lowest reported sequence number
 * succeeded, so the checkpoint moves just before it and the batch is retried from there (an
 * identifier that is not a sequence number in the batch fails the whole batch). A failing batch is
 * bisected, and a failing single record is retried `maxRetryAttempts` times with backoff, then
 * handed to `onFailure` and passed. The checkpoint never moves past a record that was neither
 * processed, filtered out nor given up on.
 */
export function createDynamoStreamSource(options: DynamoStreamSourceOptions): DynamoStreamSource {
  const {
    endpoint,
    tableName,
    handler,
    filter,
    onFailure,
    startingPosition = "TRIM_HORIZON",
    maxRetryAttempts = DEFAULT_MAX_RETRY_ATTEMPTS,
    maxRecordAgeSeconds,
    bisectBatchOnFunctionError = true,
    checkpoints: store = createMemoryCheckpointStore(),
    pollIntervalMs = DEFAULT_POLL_INTERVAL_MS,
    shardRefreshIntervalMs = DEFAULT_SHARD_REFRESH_INTERVAL_MS,
    retryDelayMs = DEFAULT_RETRY_DELAY_MS,
    logger = consoleLogger,
    sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new Error(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}, got ${batchSize}`);
  }
  if (!Number.isInteger(maxRetryAttempts) || maxRetryAttempts < -1) {
    throw new Error(`maxRetryAttempts must be -1 (forever) or a whole number, got ${maxRetryAttempts}`);
  }
  if (
    maxRecordAgeSeconds !== undefined &&
    !(Number.isInteger(maxRecordAgeSeconds) && maxRecordAgeSeconds > 0)
  ) {
    throw new Error(`maxRecordAgeSeconds must be a positive whole number, got ${maxRecordAgeSeconds}`);
  }
  if (!isLoopbackEndpoint(endpoint)) {
    throw new Error(`Refusing non-local DynamoDB endpoint ${endpoint}: only loopback is allowed here`);
  }
  const clientRegion = options.region ?? "local";

  let clients: { dynamo: DynamoDBClient; streams: DynamoDBStreamsClient } | undefined;
  const getClients = () => {
    clients ??= {
      dynamo: createDynamoClient({ endpoint, region: clientRegion, requireLocal: true }),
      streams: new DynamoDBStreamsClient({ endpoint, region: clientRegion, credentials: LOCAL_CREDENTIALS }),
    };
    return clients;
  };

  let streamArn: string | undefined;
  let initializing: Promise<void> | undefined;
  const checkpoints = new Map<string, string>();
  const shards = new Map<string, ShardState>();
  let describedAt: number | undefined;
  let shardFinishedSinceDescribe = false;
  let describing: Promise<boolean> | undefined;

  const counters = { polls: 0, invocations: 0, failedInvocations: 0, delivered: 0, skipped: 0, givenUp: 0 };
  let lastError: string | undefined;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wakeLoop: (() => void) | undefined;
  const inFlight = new Set<Promise<unknown>>();

  const initialize = async () => {
    initializing ??= (async () => {
      const loaded = await store.load();
      for (const [shardId, sequenceNumber] of Object.entries(loaded)) {
        checkpoints.set(shardId, sequenceNumber);
      }
      const { Table } = await getClients().dynamo.send(new DescribeTableCommand({ TableName: tableName }));
      if (!Table?.LatestStreamArn) {
        throw new Error(
          `Table ${tableName} has no stream; create it from createTableInput() (NEW_AND_OLD_IMAGES)`,
        );
      }
      if (!Table.StreamSpecification?.StreamEnabled) {
        logger.warn("The table's stream is disabled; reading what is left in it", { tableName });
      }
      streamArn = Table.LatestStreamArn;
      logger.info("Reading table stream", { tableName, streamArn, checkpoints: checkpoints.size });
    })().catch((error: unknown) => {
      initializing = undefined;
      throw error;
    });
    return initializing;
  };

  /** Lists the stream's shards; resolves to whether shards were added after the first look. */
  const describeShards = async (): Promise<boolean> => {
    const arn = streamArn as string;
    const first = describedAt === undefined;
    let added = false;
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await getClients().streams.send(
        new DescribeStreamCommand({ StreamArn: arn, ExclusiveStartShardId: exclusiveStartShardId }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        if (!shard.ShardId) continue;
        const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
        const known = shards.get(shard.ShardId);
        if (known) {
          known.closed ||= closed;
          continue;
        }
        // LATEST is where the mapping starts, so shards that were already closed then are not read;
        // shards that appear later are read from their start, or their first records would be lost.
        const skip = first && startingPosition === "LATEST" && closed && !checkpoints.has(shard.ShardId);
        shards.set(shard.ShardId, {
          shardId: shard.ShardId,
          parentShardId: shard.ParentShardId,
          closed,
          finished: skip,
          busy: false,
          initialPosition: first ? startingPosition : "TRIM_HORIZON",
        });
        if (!first) {
          added = true;
          logger.info("New stream shard", { shardId: shard.ShardId, parentShardId: shard.ParentShardId });
        }
      }
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    describedAt = Date.now();
    shardFinishedSinceDescribe = false;
    return added;
  };

  const refreshShards = async (): Promise<boolean> => {
    const due =
      describedAt === undefined ||
      shardFinishedSinceDescribe ||
      Date.now() - describedAt >= shardRefreshIntervalMs;
    if (!due) return false;
    describing ??= describeShards().finally(() => {
      describing = undefined;
    });
    return describing;
  };

  const saveCheckpoint = async (shard: ShardState, sequenceNumber: string | undefined) => {
    if (!sequenceNumber) return;
    const current = checkpoints.get(shard.shardId);
    if (current !== undefined && compareSequenceNumbers(sequenceNumber, current) <= 0) return;
    await store.save(shard.shardId, sequenceNumber);
    checkpoints.set(shard.shardId, sequenceNumber);
  };

  const shardIterator = async (shard: ShardState): Promise<string | undefined> => {
    const checkpoint = checkpoints.get(shard.shardId);
    const request: { ShardIteratorType: ShardIteratorType; SequenceNumber?: string } = shard.resumeAt
      ? { ShardIteratorType: "AT_SEQUENCE_NUMBER", SequenceNumber: shard.resumeAt }
      : checkpoint
        ? { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", SequenceNumber: checkpoint }
        : { ShardIteratorType: shard.initialPosition };
    try {
      const { ShardIterator } = await getClients().streams.send(
        new GetShardIteratorCommand({ StreamArn: streamArn, ShardId: shard.shardId, ...request }),
      );
      return ShardIterator;
    } catch (error) {
      if (!request.SequenceNumber) throw error;
      // DynamoDB Local answers a sequence number beyond the shard with a bare 500 InternalFailure.
      throw new Error(
        `Cannot read shard ${shard.shardId} ${request.ShardIteratorType} ${request.SequenceNumber} (${describeError(error)}). If that checkpoint comes from another DynamoDB Local database, delete the checkpoint file to start over.`,
        { cause: error },
      );
    }
  };

  /** One `GetRecords` call; an expired iterator is replaced from the checkpoint once. */
  const readPage = async (shard: ShardState) => {
    for (let attempt = 1; ; attempt++) {
      shard.iterator ??= await shardIterator(shard);
      if (!shard.iterator) return { records: [] as _Record[], next: undefined };
      try {
        const { Records = [], NextShardIterator } = await getClients().streams.send(
          new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: batchSize }),
        );
        shard.resumeAt = undefined;
        return { records: Records, next: NextShardIterator };
      } catch (error) {
        const name = (error as Error).name;
        shard.iterator = undefined;
        if (name === "ExpiredIteratorException" && attempt === 1) {
          logger.warn("Shard iterator expired; resuming from the checkpoint", { shardId: shard.shardId });
          continue;
        }
        if (name === "TrimmedDataAccessException" && attempt === 1) {
          logger.error("Stream records past the checkpoint were trimmed; reading from the oldest left", {
            shardId: shard.shardId,
            checkpoint: checkpoints.get(shard.shardId),
          });
          shard.resumeAt = undefined;
          checkpoints.delete(shard.shardId);
          shard.initialPosition = "TRIM_HORIZON";
          continue;
        }
        throw error;
      }
    }
  };

  const invoke = async (records: DynamoDBRecord[]): Promise<InvokeOutcome> => {
    counters.invocations++;
    let response: Awaited<ReturnType<DynamoStreamHandler>>;
    try {
      // A fresh copy per attempt, as Lambda parses fresh JSON: a handler's mutations do not leak into retries.
      response = await handler({ Records: structuredClone(records) });
    } catch (error) {
      return { kind: "failed", from: 0, error };
    }
    const failures: unknown = response?.batchItemFailures ?? [];
    if (!Array.isArray(failures)) {
      return {
        kind: "failed",
        from: 0,
        error: new Error("The handler's batchItemFailures is not an array; the whole batch counts as failed"),
      };
    }
    if (failures.length === 0) return { kind: "ok" };
    const indexBySequence = new Map(records.map((record, index) => [sequenceOf(record), index]));
    let from = records.length;
    for (const failure of failures as Partial<DynamoDBBatchItemFailure>[]) {
      const id = failure?.itemIdentifier;
      const index = typeof id === "string" ? indexBySequence.get(id) : undefined;
      if (index === undefined) {
        return {
          kind: "failed",
          from: 0,
          error: new Error(
            `batchItemFailures names ${JSON.stringify(id)}, which is not a sequence number in this batch; the whole batch counts as failed, as on Lambda`,
          ),
        };
      }
      from = Math.min(from, index);
    }
    return {
      kind: "failed",
      from,
      error: new Error(
        `The handler reported record ${sequenceOf(records[from] as DynamoDBRecord)} as failed`,
      ),
    };
  };

  const giveUp = async (
    shard: ShardState,
    record: DynamoDBRecord,
    error: unknown,
    attempts: number,
    condition: StreamRecordFailure["condition"],
  ) => {
    const details = {
      shardId: shard.shardId,
      sequenceNumber: sequenceOf(record),
      keys: record.dynamodb?.Keys,
      attempts,
      condition,
      error: describeError(error),
    };
    if (onFailure) {
      logger.warn("Giving up on stream record; handing it to onFailure", details);
      await onFailure({
        record: structuredClone(record),
        shardId: shard.shardId,
        condition,
        error,
        attempts,
      });
    } else {
      logger.error("Giving up on stream record (no onFailure destination): it was not processed", details);
    }
    counters.givenUp++;
  };

  /**
   * Runs one page of records through the handler until each is processed, filtered out or given up
   * on, checkpointing as it goes. `complete` is false when it stopped early (stop requested before a
   * retry, or `onFailure` threw); `shard.resumeAt` then names the first record not passed.
   */
  const processPage = async (
    shard: ShardState,
    page: DynamoDBRecord[],
  ): Promise<{ handled: number; complete: boolean }> => {
    const position = new Map(page.map((record, index) => [sequenceOf(record), index]));
    const last = sequenceOf(page[page.length - 1] as DynamoDBRecord);
    /** The record of the page just before `record`: passing it also passes filtered records in between. */
    const before = (record: DynamoDBRecord) => {
      const index = position.get(sequenceOf(record)) ?? 0;
      return index > 0 ? sequenceOf(page[index - 1] as DynamoDBRecord) : undefined;
    };
    const matching = filter ? page.filter((record) => filter(record)) : page;
    const segments: Segment[] = matching.length > 0 ? [{ records: matching, attempts: 0 }] : [];
    let delivered = 0;

    /** Filtered records of this page that the checkpoint has passed. */
    const skippedCount = () => {
      const checkpoint = checkpoints.get(shard.shardId);
      if (!filter || checkpoint === undefined) return 0;
      const matched = new Set(matching);
      return page.filter(
        (record) => !matched.has(record) && compareSequenceNumbers(sequenceOf(record), checkpoint) <= 0,
      ).length;
    };
    const done = (complete: boolean) => {
      const skipped = skippedCount();
      counters.skipped += skipped;
      return { handled: delivered + skipped, complete };
    };
    const stopAt = (record: DynamoDBRecord) => {
      shard.resumeAt = sequenceOf(record);
      return done(false);
    };
    const succeeded = (records: DynamoDBRecord[]) => {
      delivered += records.length;
      counters.delivered += records.length;
    };
    /** The head segment is dealt with: checkpoint up to the next segment, or to the page's end. */
    const passHead = async () => {
      segments.shift();
      const next = segments[0]?.records[0];
      await saveCheckpoint(shard, next ? before(next) : last);
    };

    let retrying = false;
    while (segments.length > 0) {
      const segment = segments[0] as Segment;
      const head = segment.records[0] as DynamoDBRecord;
      if (segment.attempts > 0 && !stopping) await sleep(retryDelay(segment.attempts, retryDelayMs));
      if (retrying && stopping) return stopAt(head);
      retrying = true;
      const outcome = await invoke(segment.records);
      if (outcome.kind === "ok") {
        succeeded(segment.records);
        await passHead();
        continue;
      }
      counters.failedInvocations++;
      if (outcome.from > 0) {
        // Everything before the lowest reported record succeeded; retry from that record at once.
        const failedRecord = segment.records[outcome.from] as DynamoDBRecord;
        succeeded(segment.records.slice(0, outcome.from));
        await saveCheckpoint(shard, before(failedRecord));
        segments[0] = { records: segment.records.slice(outcome.from), attempts: 0 };
        continue;
      }
      logger.warn("Stream batch failed", {
        shardId: shard.shardId,
        firstSequenceNumber: sequenceOf(head),
        records: segment.records.length,
        attempt: segment.attempts + 1,
        error: describeError(outcome.error),
      });
      if (bisectBatchOnFunctionError && segment.records.length > 1) {
        const half = Math.ceil(segment.records.length / 2);
        segments.splice(
          0,
          1,
          { records: segment.records.slice(0, half), attempts: 0 },
          { records: segment.records.slice(half), attempts: 0 },
        );
        continue;
      }
      segment.attempts++;
      const tooOld =
        maxRecordAgeSeconds !== undefined && oldestAgeSeconds(segment.records) > maxRecordAgeSeconds;
      if (!tooOld && (maxRetryAttempts === -1 || segment.attempts <= maxRetryAttempts)) continue;
      for (const record of segment.records) {
        try {
          await giveUp(
            shard,
            record,
            outcome.error,
            segment.attempts,
            tooOld ? "RecordAgeExceeded" : "RetryAttemptsExhausted",
          );
        } catch (error) {
          logger.error("onFailure failed; the record stays unprocessed and is retried at the next poll", {
            shardId: shard.shardId,
            sequenceNumber: sequenceOf(record),
            keys: record.dynamodb?.Keys,
            error: describeError(error),
          });
          await saveCheckpoint(shard, before(record));
          return stopAt(record);
        }
        await saveCheckpoint(shard, sequenceOf(record));
      }
      await passHead();
    }
    // Only filtered records, or filtered records after the last segment: pass them too.
    await saveCheckpoint(shard, last);
    return done(true);
  };

  /** Reads and processes one batch of a shard; resolves to the records passed and whether anything changed. */
  const pollShard = async (shard: ShardState): Promise<{ handled: number; progressed: boolean }> => {
    shard.busy = true;
    let page: DynamoDBRecord[] = [];
    try {
      const { records, next } = await readPage(shard);
      if (records.length === 0) {
        shard.iterator = next;
        if (next) return { handled: 0, progressed: false };
        finish(shard);
        return { handled: 0, progressed: true };
      }
      const arn = streamArn as string;
      page = records.map((record) => toDynamoDBRecord(record, arn, options.region));
      const { handled, complete } = await processPage(shard, page);
      shard.iterator = complete ? next : undefined;
      if (complete && !next) finish(shard);
      return { handled, progressed: true };
    } catch (error) {
      // Read again from the first record of the page the checkpoint has not passed.
      shard.iterator = undefined;
      const checkpoint = checkpoints.get(shard.shardId);
      const unpassed = page.find(
        (record) => checkpoint === undefined || compareSequenceNumbers(sequenceOf(record), checkpoint) > 0,
      );
      if (unpassed) shard.resumeAt = sequenceOf(unpassed);
      throw error;
    } finally {
      shard.busy = false;
    }
  };

  const finish = (shard: ShardState) => {
    shard.finished = true;
    shardFinishedSinceDescribe = true;
    logger.info("Stream shard finished", {
      shardId: shard.shardId,
      checkpoint: checkpoints.get(shard.shardId),
    });
  };

  const pollRound = async (): Promise<{ handled: number; progressed: boolean }> => {
    counters.polls++;
    let progressed: boolean;
    try {
      await initialize();
      progressed = await refreshShards();
    } catch (error) {
      lastError = describeError(error);
      throw error;
    }
    const results = await Promise.allSettled(readyShards([...shards.values()]).map(pollShard));
    let handled = 0;
    let failure: unknown;
    for (const result of results) {
      if (result.status === "fulfilled") {
        handled += result.value.handled;
        progressed ||= result.value.progressed;
      } else {
        failure ??= result.reason;
      }
    }
    if (failure !== undefined) {
      lastError = describeError(failure);
      throw failure;
    }
    return { handled, progressed };
  };

  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    void promise.then(
      () => inFlight.delete(promise),
      () => inFlight.delete(promise),
    );
    return promise;
  };

  const idleWait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wakeLoop = undefined;
        resolve();
      }, ms);
      wakeLoop = () => {
        clearTimeout(timer);
        wakeLoop = undefined;
        resolve();
      };
    });

  const runLoop = async () => {
    let errors = 0;
    while (!stopping) {
      let progressed = false;
      try {
        progressed = (await track(pollRound())).progressed;
        errors = 0;
      } catch (error) {
        errors++;
        logger.error("Stream poll failed; retrying", { tableName, error: describeError(error) });
      }
      if (stopping) break;
      if (errors > 0) await idleWait(retryDelay(errors, { base: pollIntervalMs, max: 30_000 }));
      else if (!progressed) await idleWait(pollIntervalMs);
    }
  };

  return {
    async pollOnce() {
      return (await track(pollRound())).handled;
    },

    async drain({ maxPolls = DEFAULT_MAX_POLLS, idlePolls = 1 } = {}) {
      let total = 0;
      let idle = 0;
      for (let poll = 0; poll < maxPolls; poll++) {
        const { handled, progressed } = await track(pollRound());
        total += handled;
        idle = progressed ? 0 : idle + 1;
        if (idle >= idlePolls) return total;
      }
      throw new Error(`Stream of ${tableName} still had records after ${maxPolls} polls`);
    },

    start() {
      if (loop) return;
      stopping = false;
      loop = runLoop();
    },

    async stop() {
      stopping = true;
      wakeLoop?.();
      try {
        await loop;
        await Promise.allSettled([...inFlight]);
      } finally {
        loop = undefined;
        stopping = false;
        clients?.dynamo.destroy();
        clients?.streams.destroy();
        clients = undefined;
      }
    },

    stats() {
      return {
        ...(streamArn ? { streamArn } : {}),
        ...counters,
        running: loop !== undefined,
        ...(lastError ? { lastError } : {}),
        shards: [...shards.values()].map((shard) => {
          const checkpoint = checkpoints.get(shard.shardId);
          return {
            shardId: shard.shardId,
            ...(shard.parentShardId ? { parentShardId: shard.parentShardId } : {}),
            closed: shard.closed,
            finished: shard.finished,
            ...(checkpoint ? { checkpoint } : {}),
          };
        }),
      };
    },
  };
}
