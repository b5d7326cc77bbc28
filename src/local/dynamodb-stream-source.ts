import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import type { DynamoDBRecord } from "aws-lambda";
import { createDynamoClient, isLoopbackEndpoint } from "../adapters/dynamo/client.js";
import {
  compareSequenceNumbers,
  describeError,
  sequenceOf,
  toDynamoDBRecord,
} from "../adapters/dynamo/stream-records.js";
import { createPageProcessor } from "./stream/batch.js";
import { createCheckpoints, createMemoryCheckpointStore } from "./stream/checkpoints.js";
import { retryDelay } from "./stream/invoke.js";
import { createShardReader } from "./stream/iterators.js";
import { createShardTable, readyShards, type ShardState } from "./stream/shards.js";
import type {
  DynamoStreamSource,
  DynamoStreamSourceOptions,
  StreamCounters,
  StreamSourceLogger,
} from "./stream/types.js";

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

export { compareSequenceNumbers, toDynamoDBRecord } from "../adapters/dynamo/stream-records.js";
// The parts live in ./stream/: records, checkpoints, shards, iterators, invoke and batch (bisect/retry).
export {
  createFileCheckpointStore,
  createMemoryCheckpointStore,
  parseCheckpointFile,
} from "./stream/checkpoints.js";
export { type InvokeOutcome, invokeHandler, retryDelay } from "./stream/invoke.js";
export { iteratorRequest } from "./stream/iterators.js";
export { readyShards, type ShardReadiness } from "./stream/shards.js";
export type {
  CheckpointStore,
  DynamoStreamHandler,
  DynamoStreamSource,
  DynamoStreamSourceOptions,
  DynamoStreamSourceStats,
  ShardStatus,
  StartingPosition,
  StreamRecordFailure,
  StreamSourceLogger,
} from "./stream/types.js";

const DEFAULT_BATCH_SIZE = 100;
const MAX_BATCH_SIZE = 1000;
const DEFAULT_MAX_RETRY_ATTEMPTS = 10;
const DEFAULT_RETRY_DELAY_MS = { base: 100, max: 5_000 };
const DEFAULT_POLL_INTERVAL_MS = 500;
const DEFAULT_SHARD_REFRESH_INTERVAL_MS = 10_000;
const DEFAULT_MAX_POLLS = 1000;
/** Fake credentials: DynamoDB Local with `-sharedDb` ignores them. */
const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

const consoleLogger: StreamSourceLogger = {
  info: (message, details) => console.info(`[dynamodb-stream-source] ${message}`, details ?? ""),
  warn: (message, details) => console.warn(`[dynamodb-stream-source] ${message}`, details ?? ""),
  error: (message, details) => console.error(`[dynamodb-stream-source] ${message}`, details ?? ""),
};

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
  const checkpoints = createCheckpoints(store);
  const counters: StreamCounters = {
    polls: 0,
    invocations: 0,
    failedInvocations: 0,
    delivered: 0,
    skipped: 0,
    givenUp: 0,
  };
  let lastError: string | undefined;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let wakeLoop: (() => void) | undefined;
  const inFlight = new Set<Promise<unknown>>();

  const streams = () => getClients().streams;
  const shardTable = createShardTable({
    streams,
    streamArn: () => streamArn as string,
    startingPosition,
    refreshIntervalMs: shardRefreshIntervalMs,
    checkpoints,
    logger,
  });
  const reader = createShardReader({ streams, streamArn: () => streamArn, batchSize, checkpoints, logger });
  // handler, filter, onFailure and maxRecordAgeSeconds as given; the rest with their defaults.
  const processPage = createPageProcessor({
    ...options,
    maxRetryAttempts,
    bisectBatchOnFunctionError,
    retryDelayMs,
    logger,
    sleep,
    checkpoints,
    counters,
    stopping: () => stopping,
  });

  const initialize = async () => {
    initializing ??= (async () => {
      await checkpoints.load();
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

  /** Reads and processes one batch of a shard; resolves to the records passed and whether anything changed. */
  const pollShard = async (shard: ShardState): Promise<{ handled: number; progressed: boolean }> => {
    shard.busy = true;
    let page: DynamoDBRecord[] = [];
    try {
      const { records, next } = await reader.readPage(shard);
      if (records.length === 0) {
        shard.iterator = next;
        if (next) return { handled: 0, progressed: false };
        shardTable.finish(shard);
        return { handled: 0, progressed: true };
      }
      const arn = streamArn as string;
      page = records.map((record) => toDynamoDBRecord(record, arn, options.region));
      const { handled, complete } = await processPage(shard, page);
      shard.iterator = complete ? next : undefined;
      if (complete && !next) shardTable.finish(shard);
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

  const pollRound = async (): Promise<{ handled: number; progressed: boolean }> => {
    counters.polls++;
    let progressed: boolean;
    try {
      await initialize();
      progressed = await shardTable.refresh();
    } catch (error) {
      lastError = describeError(error);
      throw error;
    }
    const results = await Promise.allSettled(readyShards(shardTable.all()).map(pollShard));
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
        shards: shardTable.all().map((shard) => {
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
