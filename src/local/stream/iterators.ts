import {
  type _Record,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type ShardIteratorType,
} from "@aws-sdk/client-dynamodb-streams";
import { describeError } from "../../adapters/dynamo/stream-records.js";
import type { Checkpoints } from "./checkpoints.js";
import type { ShardState } from "./shards.js";
import type { StreamSourceLogger } from "./types.js";

/**
 * Reading a shard: a shard iterator from where the shard got to (the record to resume at, else
 * after the checkpoint, else the shard's initial position) and one `GetRecords` page from it.
 */

/** The GetShardIterator request for a shard's position. */
export function iteratorRequest(
  shard: Pick<ShardState, "resumeAt" | "initialPosition">,
  checkpoint: string | undefined,
): { ShardIteratorType: ShardIteratorType; SequenceNumber?: string } {
  return shard.resumeAt
    ? { ShardIteratorType: "AT_SEQUENCE_NUMBER", SequenceNumber: shard.resumeAt }
    : checkpoint
      ? { ShardIteratorType: "AFTER_SEQUENCE_NUMBER", SequenceNumber: checkpoint }
      : { ShardIteratorType: shard.initialPosition };
}

export interface ShardReader {
  /** One `GetRecords` call; an expired iterator is replaced from the checkpoint once. */
  readPage(shard: ShardState): Promise<{ records: _Record[]; next: string | undefined }>;
}

export function createShardReader(options: {
  streams: () => DynamoDBStreamsClient;
  streamArn: () => string | undefined;
  batchSize: number;
  checkpoints: Checkpoints;
  logger: StreamSourceLogger;
}): ShardReader {
  const { checkpoints, logger } = options;

  const shardIterator = async (shard: ShardState): Promise<string | undefined> => {
    const request = iteratorRequest(shard, checkpoints.get(shard.shardId));
    try {
      const { ShardIterator } = await options
        .streams()
        .send(
          new GetShardIteratorCommand({ StreamArn: options.streamArn(), ShardId: shard.shardId, ...request }),
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

  return {
    async readPage(shard) {
      for (let attempt = 1; ; attempt++) {
        shard.iterator ??= await shardIterator(shard);
        if (!shard.iterator) return { records: [] as _Record[], next: undefined };
        try {
          const { Records = [], NextShardIterator } = await options
            .streams()
            .send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: options.batchSize }));
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
    },
  };
}
