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
import {
  classifyProjectionError,
  errorMessageOf,
  type FailureClass,
} from "../domain/governance/projection-failure.js";
import type { GovernanceProjector } from "../domain/governance/projector.js";
import {
  PROJECTION_FAILURE_KIND,
  type ProjectionFailure,
  type ProjectionFailureStore,
} from "../ports/projection-failures.js";

export const PROJECTOR_METRICS = {
  applied: "GovernanceEventsApplied",
  duplicates: "GovernanceEventsDuplicate",
  malformed: "GovernanceRecordsMalformed",
  failed: "GovernanceRecordsFailed",
  skipped: "GovernanceRecordsSkipped",
  anchorFailed: "AuditAnchorFailed",
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
  /**
   * Where records that fail for a permanent reason go (with their error) so the stream can move on.
   * Without one, such records are retried like transient failures (nothing is lost), and unreadable
   * images are logged and skipped.
   */
  failures?: ProjectionFailureStore;
  /** Permanent or transient: see domain/governance/projection-failure.ts (default: domain errors only). */
  classify?: (error: unknown) => FailureClass;
  now?: () => Date;
  /**
   * Called once at the end of a batch in which at least one event was APPLIED (e.g. anchoring the
   * audit chain). A throw is logged and counted (`AuditAnchorFailed`) and never fails the batch.
   */
  afterBatch?: () => Promise<void>;
}

/** A permanent failure of one record: what failed and why. */
interface Failed {
  record: DynamoDBRecord;
  events: GovernanceEvent[];
  failedEvent: GovernanceEvent | undefined;
  error: unknown;
  verdict: FailureClass;
}

/**
 * The table stream's consumer for governance. Records are applied strictly in order. A record that
 * fails for a transient reason (Postgres unreachable, a timeout, a lost serialization race, anything
 * unrecognised) stops the batch: its sequence number is reported (ReportBatchItemFailures), so the
 * event source retries from it and nothing after it is applied first — an outcome must never
 * overtake the award it settles — within the trigger's record-age budget (minutes). A record that
 * fails for a permanent reason (data Postgres refuses, a domain refusal, an unreadable image) cannot
 * be fixed by retrying: it goes to the failure store with its error, an audit row notes the skip
 * (once), `GovernanceRecordsSkipped` is counted, and the stream moves on; `agentforge governance
 * replay` applies it once its cause is fixed. If the failure store cannot be written, the record is
 * treated as transient, so nothing is lost. Each event is applied exactly once by its key, so
 * redelivered and replayed records are harmless. Logs carry keys, kinds, sequence numbers and
 * SQLSTATEs, never images.
 */
export function createGovernanceStreamHandler({
  projector,
  logger,
  metrics,
  failures,
  classify = (error) => classifyProjectionError(error),
  now = () => new Date(),
  afterBatch,
}: GovernanceStreamOptions) {
  /** Puts the record in the failure store and notes the skip; throws when that cannot be done. */
  async function skip({ record, events, failedEvent, error, verdict }: Failed): Promise<boolean> {
    if (!failures) throw error;
    const sequenceNumber = record.dynamodb?.SequenceNumber ?? null;
    const message = errorMessageOf(error);
    const at = now().toISOString();
    const failure: ProjectionFailure = {
      kind: PROJECTION_FAILURE_KIND,
      version: 1,
      record,
      event_keys: events.map((event) => event.key),
      failed_event_key: failedEvent?.key ?? null,
      error: {
        class: "permanent",
        reason: verdict.reason,
        name: verdict.name,
        sqlstate: verdict.sqlstate,
        message,
      },
      sequence_number: sequenceNumber,
      failed_at: at,
      replay_attempts: 0,
    };
    await failures.put(failure);
    let noted = false;
    try {
      const result = await projector.skip({
        event_key: failedEvent?.key ?? null,
        event_kind: failedEvent?.kind ?? null,
        sequence_number: sequenceNumber,
        reason: verdict.reason,
        error_name: verdict.name,
        sqlstate: verdict.sqlstate,
        message,
        at,
      });
      noted = result === "APPLIED";
    } catch (auditError) {
      // The record is safe in the failure store; an audit row that cannot be written for a
      // permanent reason must not block the stream either. A transient one retries the record.
      if (classify(auditError).kind === "transient") throw auditError;
      logger.error("Cannot note the skipped record in the audit log", {
        sequence_number: sequenceNumber,
        key: failedEvent?.key,
        error: errorMessageOf(auditError),
      });
    }
    logger.error("Skipping governance record: it fails for a permanent reason; it is in the failure store", {
      sequence_number: sequenceNumber,
      event_id: record.eventID,
      key: failedEvent?.key,
      kind: failedEvent?.kind,
      reason: verdict.reason,
      sqlstate: verdict.sqlstate,
      error: message,
    });
    metrics.addMetric(PROJECTOR_METRICS.skipped, MetricUnit.Count, 1);
    return noted;
  }

  return async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
    // Audit rows written by this batch (events and skip notes): what afterBatch is for.
    let appliedAny = false;
    const retryFrom = (record: DynamoDBRecord, error: unknown): DynamoDBBatchResponse => {
      const sequenceNumber = record.dynamodb?.SequenceNumber;
      metrics.addMetric(PROJECTOR_METRICS.failed, MetricUnit.Count, 1);
      if (!sequenceNumber) throw error;
      return { batchItemFailures: [{ itemIdentifier: sequenceNumber }] };
    };
    try {
      for (const record of event.Records) {
        const sequenceNumber = record.dynamodb?.SequenceNumber;
        let events: GovernanceEvent[];
        try {
          events = eventsOfRecord(record);
        } catch (error) {
          if (!(error instanceof MalformedChangeError)) throw error;
          metrics.addMetric(PROJECTOR_METRICS.malformed, MetricUnit.Count, 1);
          if (!failures) {
            logger.error("Skipping unreadable stream record", {
              sequence_number: sequenceNumber,
              event_id: record.eventID,
              reason: error.message,
            });
            continue;
          }
          try {
            if (await skip({ record, events: [], failedEvent: undefined, error, verdict: classify(error) })) {
              appliedAny = true;
            }
          } catch (storeError) {
            logger.warn("Cannot put the unreadable record in the failure store; the stream retries it", {
              sequence_number: sequenceNumber,
              error: errorMessageOf(storeError),
            });
            return retryFrom(record, storeError);
          }
          continue;
        }
        let current: GovernanceEvent | undefined;
        try {
          for (const governanceEvent of events) {
            current = governanceEvent;
            const result = await projector.apply(governanceEvent);
            if (result === "APPLIED") appliedAny = true;
            metrics.addMetric(
              result === "APPLIED" ? PROJECTOR_METRICS.applied : PROJECTOR_METRICS.duplicates,
              MetricUnit.Count,
              1,
            );
          }
        } catch (error) {
          const verdict = classify(error);
          if (verdict.kind === "permanent" && failures) {
            try {
              if (await skip({ record, events, failedEvent: current, error, verdict })) appliedAny = true;
              continue;
            } catch (storeError) {
              logger.warn("Cannot set the failed record aside; the stream retries it", {
                sequence_number: sequenceNumber,
                key: current?.key,
                error: errorMessageOf(storeError),
              });
              return retryFrom(record, storeError);
            }
          }
          logger.warn("Governance projection failed; the stream retries from this record", {
            sequence_number: sequenceNumber,
            event_id: record.eventID,
            key: current?.key,
            kind: current?.kind,
            reason: verdict.reason,
            sqlstate: verdict.sqlstate,
            error: errorMessageOf(error),
          });
          return retryFrom(record, error);
        }
      }
      return { batchItemFailures: [] };
    } finally {
      if (appliedAny && afterBatch) {
        try {
          await afterBatch();
        } catch (error) {
          logger.error("After-batch hook failed; the batch stands", { error: errorMessageOf(error) });
          metrics.addMetric(PROJECTOR_METRICS.anchorFailed, MetricUnit.Count, 1);
        }
      }
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
    }
  };
}
