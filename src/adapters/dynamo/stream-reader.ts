import {
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from "@aws-sdk/client-dynamodb-streams";
import type { DynamoDBRecord } from "aws-lambda";
import {
  type StreamBatchInfo,
  type StreamRecordReader,
  StreamRecordsExpiredError,
} from "../../ports/projection-failures.js";
import { toDynamoDBRecord } from "./stream-records.js";

/** Empty pages read past the last record before giving up on an open shard. */
const MAX_EMPTY_PAGES = 5;

const compare = (a: string, b: string) => {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** Errors that say the records (or the whole stream) are no longer there. */
function isGone(error: unknown): boolean {
  const name = (error as { name?: unknown })?.name;
  return name === "TrimmedDataAccessException" || name === "ResourceNotFoundException";
}

/**
 * Reads records back from a DynamoDB stream by sequence number (GetShardIterator AT_SEQUENCE_NUMBER),
 * for on-failure messages that carry only a range. Records come in the shape Lambda delivers them.
 * When the message names no shard, the shard whose range holds the start is looked up.
 */
export function createStreamRecordReader(client: DynamoDBStreamsClient): StreamRecordReader {
  async function shardsFor(batch: StreamBatchInfo): Promise<string[]> {
    if (batch.shardId) return [batch.shardId];
    const found: string[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await client.send(
        new DescribeStreamCommand({ StreamArn: batch.streamArn, ExclusiveStartShardId: start }),
      );
      for (const shard of StreamDescription?.Shards ?? []) {
        const range = shard.SequenceNumberRange;
        if (!shard.ShardId || !range?.StartingSequenceNumber) continue;
        const begins = compare(range.StartingSequenceNumber, batch.startSequenceNumber) <= 0;
        const ends = range.EndingSequenceNumber;
        if (begins && (!ends || compare(ends, batch.startSequenceNumber) >= 0)) found.push(shard.ShardId);
      }
      start = StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return found;
  }

  async function readShard(shardId: string, batch: StreamBatchInfo): Promise<DynamoDBRecord[]> {
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({
        StreamArn: batch.streamArn,
        ShardId: shardId,
        ShardIteratorType: "AT_SEQUENCE_NUMBER",
        SequenceNumber: batch.startSequenceNumber,
      }),
    );
    const records: DynamoDBRecord[] = [];
    let iterator = ShardIterator;
    let empty = 0;
    while (iterator && empty < MAX_EMPTY_PAGES) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      const got = page.Records ?? [];
      if (got.length === 0) empty++;
      for (const record of got) {
        const sequence = record.dynamodb?.SequenceNumber;
        if (!sequence || compare(sequence, batch.startSequenceNumber) < 0) continue;
        if (compare(sequence, batch.endSequenceNumber) > 0) return records;
        records.push(toDynamoDBRecord(record, batch.streamArn));
        if (compare(sequence, batch.endSequenceNumber) === 0) return records;
      }
      iterator = page.NextShardIterator;
    }
    return records;
  }

  return {
    async read(batch) {
      let shards: string[];
      try {
        shards = await shardsFor(batch);
      } catch (error) {
        if (isGone(error)) {
          throw new StreamRecordsExpiredError(`The stream ${batch.streamArn} no longer exists`, {
            cause: error,
          });
        }
        throw error;
      }
      for (const shardId of shards) {
        try {
          const records = await readShard(shardId, batch);
          if (records.length > 0) return records;
        } catch (error) {
          if (isGone(error)) continue;
          throw error;
        }
      }
      throw new StreamRecordsExpiredError(
        `Stream records ${batch.startSequenceNumber}..${batch.endSequenceNumber} are no longer in the stream (24 h retention)`,
      );
    },
  };
}
