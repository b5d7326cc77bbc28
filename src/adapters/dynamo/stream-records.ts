import type { _Record, AttributeValue as SdkAttributeValue } from "@aws-sdk/client-dynamodb-streams";
import type { DynamoDBRecord, AttributeValue as LambdaAttributeValue } from "aws-lambda";

/**
 * Stream records as Lambda delivers them: converting what `GetRecords` returns, ordering and aging
 * them. Pure functions; no client.
 */

/** Orders two DynamoDB stream sequence numbers (decimal strings of any length). */
export function compareSequenceNumbers(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A delivered record's sequence number ("" when it has none). */
export const sequenceOf = (record: DynamoDBRecord): string => record.dynamodb?.SequenceNumber ?? "";

/** Age in seconds of the oldest record (ApproximateCreationDateTime); 0 when none says. */
export function oldestAgeSeconds(records: readonly DynamoDBRecord[], nowMs = Date.now()): number {
  const stamps = records.flatMap((r) => {
    const created = r.dynamodb?.ApproximateCreationDateTime;
    return typeof created === "number" ? [created] : [];
  });
  return stamps.length === 0 ? 0 : nowMs / 1000 - Math.min(...stamps);
}

/** An error as one line for logs and stats. */
export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
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
