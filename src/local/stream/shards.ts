import { DescribeStreamCommand, type DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import type { Checkpoints } from "./checkpoints.js";
import type { StartingPosition, StreamSourceLogger } from "./types.js";

/**
 * The stream's shards as the source knows them: listed with DescribeStream (again after a refresh
 * interval, or once a shard has finished), and which of them may be read now (a child waits for its
 * parent to finish).
 */

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

export interface ShardState extends ShardReadiness {
  closed: boolean;
  /** Position for a shard without checkpoint: the source's starting position, or TRIM_HORIZON for shards found later. */
  initialPosition: StartingPosition;
  iterator?: string | undefined;
  /** First record not processed when a batch was abandoned; the next read starts at it. */
  resumeAt?: string | undefined;
}

export interface ShardTable {
  /** Lists the shards when due; resolves to whether shards were added after the first look. */
  refresh(): Promise<boolean>;
  /** Marks a shard as read to its end and processed; the next refresh is then due. */
  finish(shard: ShardState): void;
  all(): ShardState[];
}

export function createShardTable(options: {
  streams: () => DynamoDBStreamsClient;
  /** Known once the source is initialized, before the first refresh. */
  streamArn: () => string;
  startingPosition: StartingPosition;
  refreshIntervalMs: number;
  checkpoints: Checkpoints;
  logger: StreamSourceLogger;
}): ShardTable {
  const { startingPosition, checkpoints, logger } = options;
  const shards = new Map<string, ShardState>();
  let describedAt: number | undefined;
  let shardFinishedSinceDescribe = false;
  let describing: Promise<boolean> | undefined;

  const describeShards = async (): Promise<boolean> => {
    const arn = options.streamArn();
    const first = describedAt === undefined;
    let added = false;
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await options
        .streams()
        .send(new DescribeStreamCommand({ StreamArn: arn, ExclusiveStartShardId: exclusiveStartShardId }));
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

  return {
    async refresh() {
      const due =
        describedAt === undefined ||
        shardFinishedSinceDescribe ||
        Date.now() - describedAt >= options.refreshIntervalMs;
      if (!due) return false;
      describing ??= describeShards().finally(() => {
        describing = undefined;
      });
      return describing;
    },

    finish(shard) {
      shard.finished = true;
      shardFinishedSinceDescribe = true;
      logger.info("Stream shard finished", {
        shardId: shard.shardId,
        checkpoint: checkpoints.get(shard.shardId),
      });
    },

    all: () => [...shards.values()],
  };
}
