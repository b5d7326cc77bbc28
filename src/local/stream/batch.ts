import type { DynamoDBRecord } from "aws-lambda";
import {
  compareSequenceNumbers,
  describeError,
  oldestAgeSeconds,
  sequenceOf,
} from "../../adapters/dynamo/stream-records.js";
import type { Checkpoints } from "./checkpoints.js";
import { invokeHandler, retryDelay } from "./invoke.js";
import type { ShardState } from "./shards.js";
import type {
  DynamoStreamHandler,
  StreamCounters,
  StreamRecordFailure,
  StreamSourceLogger,
} from "./types.js";

/**
 * One page of a shard through the handler, as Lambda's event source mapping does it: invoke, on a
 * reported failure move past what succeeded, bisect a failing batch, retry a failing record with
 * backoff, then give it up to `onFailure`; the checkpoint follows each record passed.
 */

interface Segment {
  records: DynamoDBRecord[];
  /** Failed invocations of exactly this segment. */
  attempts: number;
}

export interface PageProcessorOptions {
  handler: DynamoStreamHandler;
  filter?: ((record: DynamoDBRecord) => boolean) | undefined;
  onFailure?: ((info: StreamRecordFailure) => Promise<void>) | undefined;
  maxRetryAttempts: number;
  maxRecordAgeSeconds?: number | undefined;
  bisectBatchOnFunctionError: boolean;
  retryDelayMs: { base: number; max: number };
  checkpoints: Checkpoints;
  counters: StreamCounters;
  logger: StreamSourceLogger;
  sleep: (ms: number) => Promise<void>;
  /** Whether `stop()` was called: no retry starts then. */
  stopping: () => boolean;
}

export type PageProcessor = (
  shard: ShardState,
  page: DynamoDBRecord[],
) => Promise<{ handled: number; complete: boolean }>;

export function createPageProcessor(options: PageProcessorOptions): PageProcessor {
  const {
    handler,
    filter,
    onFailure,
    maxRetryAttempts,
    maxRecordAgeSeconds,
    bisectBatchOnFunctionError,
    retryDelayMs,
    checkpoints,
    counters,
    logger,
    sleep,
    stopping,
  } = options;

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
      await checkpoints.advance(shard.shardId, next ? before(next) : last);
    };

    let retrying = false;
    while (segments.length > 0) {
      const segment = segments[0] as Segment;
      const head = segment.records[0] as DynamoDBRecord;
      if (segment.attempts > 0 && !stopping()) await sleep(retryDelay(segment.attempts, retryDelayMs));
      if (retrying && stopping()) return stopAt(head);
      retrying = true;
      counters.invocations++;
      const outcome = await invokeHandler(handler, segment.records);
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
        await checkpoints.advance(shard.shardId, before(failedRecord));
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
          await checkpoints.advance(shard.shardId, before(record));
          return stopAt(record);
        }
        await checkpoints.advance(shard.shardId, sequenceOf(record));
      }
      await passHead();
    }
    // Only filtered records, or filtered records after the last segment: pass them too.
    await checkpoints.advance(shard.shardId, last);
    return done(true);
  };

  return processPage;
}
