import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";

/**
 * The public types of the local DynamoDB stream event source (`createDynamoStreamSource` in
 * `../dynamodb-stream-source.ts`, which re-exports them), and the counters its parts share.
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

export interface DynamoStreamSourceStats extends StreamCounters {
  streamArn?: string;
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

/** What the source counts (in `stats()`), shared by its parts. */
export interface StreamCounters {
  polls: number;
  invocations: number;
  failedInvocations: number;
  /** Records the handler processed successfully. */
  delivered: number;
  /** Records the filter rejected. */
  skipped: number;
  /** Records given up on (handed to `onFailure`, or logged). */
  givenUp: number;
}
