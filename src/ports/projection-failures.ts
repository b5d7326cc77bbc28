import type { DynamoDBRecord } from "aws-lambda";

/** Marks the projector's own failure messages, as opposed to Lambda's on-failure batch info. */
export const PROJECTION_FAILURE_KIND = "agentforge.projection-failure";

/**
 * A stream record the governance projector could not apply for a permanent reason, with the error,
 * as stored in the failure store. It carries the whole record (images included), so it can be
 * replayed after the stream's 24 h retention.
 */
export interface ProjectionFailure {
  kind: typeof PROJECTION_FAILURE_KIND;
  version: 1;
  record: DynamoDBRecord;
  /** The governance events the record carries (empty for an unreadable image). */
  event_keys: string[];
  /** The event that failed, when one did. */
  failed_event_key: string | null;
  error: {
    class: "permanent";
    /** See FailureClass.reason (domain/governance/projection-failure.ts). */
    reason: string;
    name: string;
    sqlstate: string | null;
    message: string;
  };
  sequence_number: string | null;
  failed_at: string;
  /** Replays that have failed so far (0 when the stream put it here). */
  replay_attempts: number;
  /** The images did not fit the store's message size: a replay reads them back from the stream. */
  images_dropped?: boolean;
}

/** What Lambda (and the local stream source) sends to a stream's on-failure destination: no images. */
export interface StreamBatchInfo {
  shardId?: string;
  streamArn: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  batchSize?: number;
  approximateArrivalOfFirstRecord?: string;
}

/** One message of the failure store, received and hidden from other readers until deleted or released. */
export interface StoredFailure {
  id: string;
  /** The handle delete and release need. */
  receipt: string;
  body: string;
  /** When the store accepted it (ISO). */
  sentAt: string | null;
}

/** The failure store of the projector (an SQS queue on AWS and, through the emulator, locally). */
export interface ProjectionFailureStore {
  put(failure: ProjectionFailure): Promise<void>;
  /** Up to `max` messages, each hidden from other receivers until deleted or released. */
  receive(max: number): Promise<StoredFailure[]>;
  delete(message: StoredFailure): Promise<void>;
  /** Makes a received message visible again at once. */
  release(message: StoredFailure): Promise<void>;
}

/** The records of a batch-info range are no longer in the stream (24 h retention). */
export class StreamRecordsExpiredError extends Error {
  override name = "StreamRecordsExpiredError";
}

/** Reads records back from the table stream, for Lambda's on-failure messages (which carry no images). */
export interface StreamRecordReader {
  /**
   * The records from `startSequenceNumber` to `endSequenceNumber` inclusive, in order. Throws
   * {@link StreamRecordsExpiredError} when they have aged out of the stream.
   */
  read(batch: StreamBatchInfo): Promise<DynamoDBRecord[]>;
}
