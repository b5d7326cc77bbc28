import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from "aws-lambda";
import {
  type GovernanceEvent,
  governanceEventsOf,
  MalformedChangeError,
  PROJECTED_ITEM_TYPES,
} from "../domain/governance/projection.js";
import type { GovernanceProjector } from "../domain/governance/projector.js";

export const PROJECTOR_METRICS = {
  applied: "GovernanceEventsApplied",
  duplicates: "GovernanceEventsDuplicate",
  malformed: "GovernanceRecordsMalformed",
  failed: "GovernanceRecordsFailed",
} as const;

const followed = new Set<string>(PROJECTED_ITEM_TYPES);

/** The governance events one stream record carries. Throws MalformedChangeError for an unreadable image. */
export function eventsOfRecord(record: DynamoDBRecord): GovernanceEvent[] {
  const { NewImage, OldImage, ApproximateCreationDateTime } = record.dynamodb ?? {};
  // Cheap pre-check on the raw attribute: most records (edges, deliveries, windows) are not followed.
  const type = (NewImage ?? OldImage)?.type?.S;
  if (!type || !followed.has(type)) return [];
  const eventName = record.eventName;
  if (eventName !== "INSERT" && eventName !== "MODIFY" && eventName !== "REMOVE") return [];
  let newImage: Record<string, unknown> | undefined;
  let oldImage: Record<string, unknown> | undefined;
  try {
    newImage = NewImage ? unmarshall(NewImage as Record<string, AttributeValue>) : undefined;
    oldImage = OldImage ? unmarshall(OldImage as Record<string, AttributeValue>) : undefined;
  } catch (error) {
    throw new MalformedChangeError(`image is not a DynamoDB item: ${(error as Error).message}`);
  }
  const approximateAt = new Date((ApproximateCreationDateTime ?? Date.now() / 1000) * 1000).toISOString();
  return governanceEventsOf({
    eventName,
    ...(newImage ? { newImage } : {}),
    ...(oldImage ? { oldImage } : {}),
    approximateAt,
  });
}

export interface GovernanceStreamOptions {
  projector: GovernanceProjector;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The table stream's consumer for governance. Records are applied strictly in order and the batch
 * stops at the first one that fails: its sequence number is reported (ReportBatchItemFailures), so
 * the event source retries from it and nothing after it is applied first — an outcome must never
 * overtake the award it settles. Failures are transient by construction (Postgres or DynamoDB
 * unreachable): an unreadable image is logged and skipped, since retrying cannot fix it. Because
 * each event is applied exactly once by its key, redelivered records are harmless.
 */
export function createGovernanceStreamHandler({ projector, logger, metrics }: GovernanceStreamOptions) {
  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    try {
      for (const record of event.Records) {
        const sequenceNumber = record.dynamodb?.SequenceNumber;
        let events: GovernanceEvent[];
        try {
          events = eventsOfRecord(record);
        } catch (error) {
          if (!(error instanceof MalformedChangeError)) throw error;
          logger.error("Skipping unreadable stream record", {
            sequence_number: sequenceNumber,
            event_id: record.eventID,
            reason: error.message,
          });
          metrics.addMetric(PROJECTOR_METRICS.malformed, MetricUnit.Count, 1);
          continue;
        }
        try {
          for (const governanceEvent of events) {
            const result = await projector.apply(governanceEvent);
            metrics.addMetric(
              result === "APPLIED" ? PROJECTOR_METRICS.applied : PROJECTOR_METRICS.duplicates,
              MetricUnit.Count,
              1,
            );
          }
        } catch (error) {
          logger.warn("Governance projection failed; the stream retries from this record", {
            sequence_number: sequenceNumber,
            event_id: record.eventID,
            error: error instanceof Error ? error.message : String(error),
          });
          metrics.addMetric(PROJECTOR_METRICS.failed, MetricUnit.Count, 1);
          if (!sequenceNumber) throw error;
          return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
        }
      }
      return { batchItemFailures: [] };
    } finally {
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
