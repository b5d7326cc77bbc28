import type { DynamoDBRecord } from "aws-lambda";
import type { GovernanceStore } from "../../ports/governance-store.js";
import {
  PROJECTION_FAILURE_KIND,
  type ProjectionFailure,
  type ProjectionFailureStore,
  type StoredFailure,
  type StreamBatchInfo,
  type StreamRecordReader,
  StreamRecordsExpiredError,
} from "../../ports/projection-failures.js";
import { ValidationError } from "../errors.js";
import type { GovernanceEvent } from "./projection.js";
import { errorMessageOf, type FailureClass } from "./projection-failure.js";
import { type GovernanceLogger, type GovernanceProjector, SYSTEM_ACTOR } from "./projector.js";

export const DEFAULT_REPLAY_LIMIT = 10;
export const MAX_REPLAY_LIMIT = 100;

export interface ReplayServiceOptions {
  failures: ProjectionFailureStore;
  /** For Lambda's on-failure messages, which name a range of the stream and carry no records. */
  stream: StreamRecordReader;
  projector: GovernanceProjector;
  /** Where the run's own audit row goes. */
  store: Pick<GovernanceStore, "transaction">;
  /** The governance events of a record (the stream handler's eventsOfRecord). */
  eventsOf: (record: DynamoDBRecord) => GovernanceEvent[];
  classify: (error: unknown) => FailureClass;
  logger?: GovernanceLogger;
  now?: () => Date;
}

/** A failure message that did not apply this time; it stays in the store (with this error). */
export interface StillFailing {
  message_id: string;
  sequence_number: string | null;
  event_key: string | null;
  reason: string;
  sqlstate: string | null;
  error: string;
  /** Lambda's on-failure message names records that have left the stream's 24 h retention. */
  expired?: true;
}

export interface ReplayResult {
  /** Failure messages taken from the store. */
  messages: number;
  /** Records with at least one event applied now. */
  replayed: number;
  /** Records whose events had all been applied before (a replay done twice, a duplicate message). */
  already_applied: number;
  still_failing: StillFailing[];
  /** Set when a transient error (Postgres down) ended the run early; the rest stay in the store. */
  stopped: string | null;
}

interface Entry {
  message: StoredFailure;
  /** Our own message: the record is in it. */
  failure?: ProjectionFailure;
  /** Lambda's (or the local stack's) on-failure message: a stream range. */
  batch?: StreamBatchInfo;
  sequence: string | null;
}

/** A transient failure: the run ends and every message not done yet is released. */
class StopRun extends Error {}

function parse(message: StoredFailure): Entry | undefined {
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const value = body as Partial<ProjectionFailure> & { DDBStreamBatchInfo?: Partial<StreamBatchInfo> };
  if (value.kind === PROJECTION_FAILURE_KIND && value.version === 1 && value.record) {
    const failure = value as ProjectionFailure;
    return { message, failure, sequence: failure.record.dynamodb?.SequenceNumber ?? failure.sequence_number };
  }
  const info = value.DDBStreamBatchInfo;
  if (info?.streamArn && info.startSequenceNumber && info.endSequenceNumber) {
    return { message, batch: info as StreamBatchInfo, sequence: info.startSequenceNumber };
  }
  return undefined;
}

function bySequence(a: Entry, b: Entry): number {
  if (a.sequence && b.sequence && /^\d+$/.test(a.sequence) && /^\d+$/.test(b.sequence)) {
    const x = BigInt(a.sequence);
    const y = BigInt(b.sequence);
    if (x !== y) return x < y ? -1 : 1;
  }
  return (a.message.sentAt ?? "").localeCompare(b.message.sentAt ?? "");
}

/** What `replay` was asked for: how many messages at most (1–100, default 10). */
export function replayLimitOf(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_REPLAY_LIMIT;
  const limit = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_REPLAY_LIMIT) {
    throw new ValidationError("Invalid replay limit", [
      { path: "limit", message: `must be a whole number from 1 to ${MAX_REPLAY_LIMIT}` },
    ]);
  }
  return limit;
}

export interface ReplayService {
  /**
   * Takes up to `limit` failure messages, oldest stream position first, re-derives their events and
   * applies them through the projector: exactly once, by the events' keys, so a record applied
   * before (or twice in the store) changes nothing. A message is deleted only once all its records
   * applied; one that still fails is put back with its new error (as a message carrying the record,
   * so it no longer depends on the stream's retention). A transient error ends the run and releases
   * what is left. The run is audited with `actor` as its actor.
   */
  replay(input: { actor: string; limit?: number }): Promise<ReplayResult>;
}

export function createReplayService({
  failures,
  stream,
  projector,
  store,
  eventsOf,
  classify,
  logger,
  now = () => new Date(),
}: ReplayServiceOptions): ReplayService {
  /** The records a message stands for. */
  async function recordsOf(entry: Entry): Promise<DynamoDBRecord[]> {
    const { failure, batch } = entry;
    if (failure && !failure.images_dropped) return [failure.record];
    const range: StreamBatchInfo | undefined =
      batch ??
      (failure?.record.eventSourceARN && entry.sequence
        ? {
            streamArn: failure.record.eventSourceARN,
            startSequenceNumber: entry.sequence,
            endSequenceNumber: entry.sequence,
          }
        : undefined);
    if (!range) throw new StreamRecordsExpiredError("The message names no stream record to read back");
    return stream.read(range);
  }

  /** Applies one record's events; resolves to whether any applied now, throws what failed. */
  async function applyRecord(record: DynamoDBRecord): Promise<{ applied: boolean }> {
    let applied = false;
    for (const event of eventsOf(record)) {
      try {
        if ((await projector.apply(event)) === "APPLIED") applied = true;
      } catch (error) {
        throw Object.assign(new Error(errorMessageOf(error), { cause: error }), { eventKey: event.key });
      }
    }
    return { applied };
  }

  return {
    async replay({ actor, limit = DEFAULT_REPLAY_LIMIT }) {
      const wanted = replayLimitOf(limit);
      const received: StoredFailure[] = [];
      while (received.length < wanted) {
        const batch = await failures.receive(wanted - received.length);
        if (batch.length === 0) break;
        received.push(...batch);
      }
      const result: ReplayResult = {
        messages: received.length,
        replayed: 0,
        already_applied: 0,
        still_failing: [],
        stopped: null,
      };
      const entries: Entry[] = [];
      for (const message of received) {
        const entry = parse(message);
        if (entry) {
          entries.push(entry);
          continue;
        }
        result.still_failing.push({
          message_id: message.id,
          sequence_number: null,
          event_key: null,
          reason: "unreadable-message",
          sqlstate: null,
          error: "not a projection failure nor a stream on-failure message: inspect it in the queue",
        });
        await failures.release(message);
      }
      entries.sort(bySequence);

      for (const [index, entry] of entries.entries()) {
        try {
          await replayEntry(entry, result);
        } catch (error) {
          if (!(error instanceof StopRun)) throw error;
          result.stopped = error.message;
          for (const rest of entries.slice(index)) await failures.release(rest.message);
          break;
        }
      }

      const at = now().toISOString();
      await store.transaction(async (tx) => {
        await tx.audit.append({
          agent_id: null,
          actor,
          action: "projection_replayed",
          resource: "governance:failure-store",
          success: result.still_failing.length === 0 && result.stopped === null,
          cost: null,
          details: {
            messages: result.messages,
            replayed: result.replayed,
            already_applied: result.already_applied,
            still_failing: result.still_failing.length,
            stopped: result.stopped,
          },
          occurred_at: at,
        });
      });
      logger?.info("Governance replay finished", {
        actor,
        messages: result.messages,
        replayed: result.replayed,
        already_applied: result.already_applied,
        still_failing: result.still_failing.length,
        stopped: result.stopped,
      });
      return result;
    },
  };

  async function replayEntry(entry: Entry, result: ReplayResult): Promise<void> {
    let records: DynamoDBRecord[];
    try {
      records = await recordsOf(entry);
    } catch (error) {
      if (error instanceof StreamRecordsExpiredError) {
        result.still_failing.push({
          message_id: entry.message.id,
          sequence_number: entry.sequence,
          event_key: null,
          reason: "expired",
          sqlstate: null,
          error: `${error.message}; the items are still in the table (keys in the message): re-derive them by hand`,
          expired: true,
        });
        await failures.release(entry.message);
        return;
      }
      throw new StopRun(`cannot read the stream: ${errorMessageOf(error)}`);
    }
    const failed: Array<{
      record: DynamoDBRecord;
      eventKey: string | null;
      verdict: FailureClass;
      message: string;
    }> = [];
    let replayed = 0;
    let already = 0;
    for (const record of records) {
      try {
        const { applied } = await applyRecord(record);
        if (applied) replayed++;
        else already++;
      } catch (wrapped) {
        const cause = (wrapped as Error).cause ?? wrapped;
        const verdict = classify(cause);
        if (verdict.kind === "transient") throw new StopRun(`transient failure: ${errorMessageOf(cause)}`);
        failed.push({
          record,
          eventKey: (wrapped as { eventKey?: string }).eventKey ?? null,
          verdict,
          message: errorMessageOf(cause),
        });
      }
    }
    const attempts = (entry.failure?.replay_attempts ?? 0) + 1;
    for (const { record, eventKey, verdict, message } of failed) {
      const sequence = record.dynamodb?.SequenceNumber ?? null;
      let keys: string[] = [];
      try {
        keys = eventsOf(record).map((event) => event.key);
      } catch {
        // Unreadable: no events to name.
      }
      await failures.put({
        kind: PROJECTION_FAILURE_KIND,
        version: 1,
        record,
        event_keys: keys,
        failed_event_key: eventKey,
        error: {
          class: "permanent",
          reason: verdict.reason,
          name: verdict.name,
          sqlstate: verdict.sqlstate,
          message,
        },
        sequence_number: sequence,
        failed_at: now().toISOString(),
        replay_attempts: attempts,
      });
      result.still_failing.push({
        message_id: entry.message.id,
        sequence_number: sequence,
        event_key: eventKey,
        reason: verdict.reason,
        sqlstate: verdict.sqlstate,
        error: message,
      });
    }
    // Everything applied, or what still fails is back in the store with its new error.
    await failures.delete(entry.message);
    result.replayed += replayed;
    result.already_applied += already;
    logger?.info("Governance failure replayed", {
      message_id: entry.message.id,
      sequence_number: entry.sequence,
      replayed,
      already_applied: already,
      still_failing: failed.length,
    });
  }
}

/** The actor of a replay started outside the REST API (a direct Lambda invoke). */
export const DIRECT_REPLAY_ACTOR = `${SYSTEM_ACTOR}:replay`;
