import type { EmfOutput } from "@aws-lambda-powertools/metrics/types";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { pgFailureClass } from "../../src/adapters/postgres/pg-errors.js";
import { failureBody } from "../../src/adapters/sqs/projection-failure-queue.js";
import { ConflictError, StoreUnavailableError, ValidationError } from "../../src/domain/errors.js";
import { type GovernanceEvent, MalformedChangeError } from "../../src/domain/governance/projection.js";
import { classifyProjectionError, errorMessageOf } from "../../src/domain/governance/projection-failure.js";
import type { GovernanceProjector, SkippedRecord } from "../../src/domain/governance/projector.js";
import { skipKeyOf } from "../../src/domain/governance/projector.js";
import { replayLimitOf } from "../../src/domain/governance/replay.js";
import { createObservability } from "../../src/observability.js";
import type { ProjectionFailure, ProjectionFailureStore } from "../../src/ports/projection-failures.js";
import { createGovernanceStreamHandler, PROJECTOR_METRICS } from "../../src/workers/governance-stream.js";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
const classify = (error: unknown) => classifyProjectionError(error, [pgFailureClass]);

describe("classifyProjectionError: permanent or transient", () => {
  it.each([
    [
      "numeric overflow (22003)",
      withCode('value "3000000000" is out of range for type integer', "22003"),
      "22003",
    ],
    ["invalid datetime (22007)", withCode("invalid input syntax for type timestamp", "22007"), "22007"],
    ["NUL in text (22021)", withCode("invalid byte sequence for encoding", "22021"), "22021"],
    ["check violation (23514)", withCode("violates check constraint", "23514"), "23514"],
    ["unique violation (23505)", withCode("duplicate key value", "23505"), "23505"],
    ["illegal escrow transition (AF002)", withCode("escrow x is released (final)", "AF002"), "AF002"],
    ["wrapped overflow", new Error("insert failed", { cause: withCode("out of range", "22003") }), "22003"],
  ])("%s is permanent invalid data", (_label, error, sqlstate) => {
    expect(classify(error)).toMatchObject({ kind: "permanent", reason: "invalid-data", sqlstate });
  });

  it.each([
    ["ValidationError", new ValidationError("bad amount"), "validation"],
    ["ConflictError (an impossible transition)", new ConflictError("escrow is released"), "conflict"],
    ["MalformedChangeError", new MalformedChangeError("image does not match"), "malformed"],
  ])("%s is permanent", (_label, error, reason) => {
    expect(classify(error)).toMatchObject({ kind: "permanent", reason, name: error.name });
  });

  it.each([
    ["statement timeout (57014)", withCode("canceling statement due to statement timeout", "57014")],
    ["shutdown (57P01)", withCode("terminating connection", "57P01")],
    ["crash shutdown (57P02)", withCode("terminating connection", "57P02")],
    ["connection failure (08006)", withCode("connection failure", "08006")],
    ["too many connections (53300)", withCode("too many clients", "53300")],
    ["out of memory (53200)", withCode("out of memory", "53200")],
    ["serialization failure (40001)", withCode("could not serialize access", "40001")],
    ["deadlock (40P01)", withCode("deadlock detected", "40P01")],
    ["refused socket", withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED")],
    ["pool timeout", new Error("timeout exceeded when trying to connect")],
  ])("%s is transient", (_label, error) => {
    expect(classify(error).kind).toBe("transient");
  });

  it("StoreUnavailableError is transient even when it wraps a permanent-looking cause", () => {
    const error = new StoreUnavailableError("postgres", "down", { cause: withCode("x", "23505") });
    expect(classify(error)).toMatchObject({ kind: "transient", reason: "unavailable" });
  });

  it.each([
    ["a bare Error", new Error("something odd")],
    ["undefined table (42P01)", withCode('relation "escrows" does not exist', "42P01")],
    ["a string", "boom"],
    ["undefined", undefined],
  ])("%s is unknown, so transient (the safe default)", (_label, error) => {
    expect(classify(error)).toMatchObject({ kind: "transient", reason: "unknown" });
  });

  it("without adapters a Postgres error is unknown: the SQLSTATE knowledge lives in the adapter", () => {
    expect(classifyProjectionError(withCode("out of range", "22003")).kind).toBe("transient");
    expect(pgFailureClass(new Error("no code"))).toBeUndefined();
  });

  it("cleans error messages for audit rows and logs", () => {
    expect(errorMessageOf(new Error("a\u0000b\nc"))).toBe("a?b?c");
    expect(errorMessageOf("x".repeat(900))).toHaveLength(500);
  });
});

describe("replayLimitOf", () => {
  it("defaults to 10 and takes 1-100", () => {
    expect(replayLimitOf(undefined)).toBe(10);
    expect(replayLimitOf("25")).toBe(25);
    expect(replayLimitOf(100)).toBe(100);
    for (const bad of ["0", "101", "1.5", "ten", -1])
      expect(() => replayLimitOf(bad)).toThrow(ValidationError);
  });
});

const AT = "2030-01-01T00:00:00.000Z";
const TASK = "https://github.com/o/r/issues/7";

function bidRecord(sequence: string, agent: string): DynamoDBRecord {
  const image = {
    type: "BID",
    task_id: TASK,
    agent_id: agent,
    status: "ACCEPTED",
    bid_amount: 10,
    answered_at: AT,
  };
  return {
    eventID: `e-${sequence}`,
    eventName: "INSERT",
    eventSourceARN: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/s",
    dynamodb: {
      SequenceNumber: sequence,
      ApproximateCreationDateTime: Date.parse(AT) / 1000,
      NewImage: marshall(image) as Record<string, AttributeValue> as never,
    },
  };
}

/** A scripted projector and an in-memory failure store: the handler's decisions, without a database. */
function harness(script: Record<string, unknown>, store: { broken?: boolean } = {}) {
  const applied: string[] = [];
  const skipped: SkippedRecord[] = [];
  const put: ProjectionFailure[] = [];
  const emitted: EmfOutput[] = [];
  let batches = 0;
  const { logger, metrics } = createObservability({
    logLevel: "SILENT",
    metricsSink: (emf) => emitted.push(emf),
  });
  const skipKeys = new Set<string>();
  const projector: GovernanceProjector = {
    async apply(event: GovernanceEvent) {
      const failure = script[event.key.split("#")[1] ?? ""];
      if (failure) throw failure;
      applied.push(event.key);
      return "APPLIED";
    },
    async skip(record) {
      skipped.push(record);
      const key = skipKeyOf(record);
      if (skipKeys.has(key)) return "DUPLICATE";
      skipKeys.add(key);
      return "APPLIED";
    },
  };
  const failures: ProjectionFailureStore = {
    async put(failure) {
      if (store.broken) throw new Error("SQS is unreachable");
      put.push(failure);
    },
    receive: async () => [],
    delete: async () => {},
    release: async () => {},
  };
  const handle = createGovernanceStreamHandler({
    projector,
    logger,
    metrics,
    failures,
    classify,
    now: () => new Date(AT),
    afterBatch: async () => {
      batches++;
    },
  });
  const metric = (name: string) =>
    emitted.reduce((sum, emf) => sum + Number((emf as unknown as Record<string, unknown>)[name] ?? 0), 0);
  return { handle, applied, skipped, put, metric, batches: () => batches };
}

describe("governance stream handler: permanent failures go to the failure store, the stream moves on", () => {
  it("sets a permanently failing record aside with its error, notes it once and applies the next", async () => {
    const h = harness({ bad: withCode('value "3000000000" is out of range for type integer', "22003") });

    const response = await h.handle({
      Records: [bidRecord("1", "ok1"), bidRecord("2", "bad"), bidRecord("3", "ok2")],
    });

    expect(response).toEqual({ batchItemFailures: [] });
    expect(h.applied).toEqual([`bid:${TASK}#ok1#${AT}`, `bid:${TASK}#ok2#${AT}`]);
    expect(h.put).toHaveLength(1);
    expect(h.put[0]).toMatchObject({
      kind: "agentforge.projection-failure",
      record: { dynamodb: { SequenceNumber: "2" } },
      event_keys: [`bid:${TASK}#bad#${AT}`],
      failed_event_key: `bid:${TASK}#bad#${AT}`,
      error: { class: "permanent", reason: "invalid-data", sqlstate: "22003", name: "Error" },
      sequence_number: "2",
      failed_at: AT,
      replay_attempts: 0,
    });
    expect(h.skipped).toEqual([
      expect.objectContaining({
        event_key: `bid:${TASK}#bad#${AT}`,
        event_kind: "BID_ACCEPTED",
        sqlstate: "22003",
      }),
    ]);
    expect(h.metric(PROJECTOR_METRICS.skipped)).toBe(1);
    expect(h.batches()).toBe(1);
  });

  it("retries a transient failure from its record, in order, and puts nothing in the failure store", async () => {
    const h = harness({ bad: withCode("canceling statement due to statement timeout", "57014") });

    const response = await h.handle({
      Records: [bidRecord("1", "ok1"), bidRecord("2", "bad"), bidRecord("3", "ok2")],
    });

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "2" }] });
    expect(h.applied).toEqual([`bid:${TASK}#ok1#${AT}`]);
    expect(h.put).toEqual([]);
    expect(h.metric(PROJECTOR_METRICS.failed)).toBe(1);
    // Something applied before the failure: the hook still runs once.
    expect(h.batches()).toBe(1);
  });

  it("treats a permanent failure as transient when the failure store cannot be written: nothing is lost", async () => {
    const h = harness({ bad: new ValidationError("bad amount") }, { broken: true });

    const response = await h.handle({ Records: [bidRecord("2", "bad"), bidRecord("3", "ok2")] });

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "2" }] });
    expect(h.applied).toEqual([]);
    expect(h.skipped).toEqual([]);
    expect(h.batches()).toBe(0);
  });

  it("puts an unreadable image in the failure store too", async () => {
    const h = harness({});
    const record = bidRecord("5", "x");
    (record.dynamodb as { NewImage: unknown }).NewImage = { type: { S: "BID" }, task_id: { S: "" } };

    const response = await h.handle({ Records: [record, bidRecord("6", "ok")] });

    expect(response).toEqual({ batchItemFailures: [] });
    expect(h.put).toEqual([
      expect.objectContaining({
        event_keys: [],
        failed_event_key: null,
        error: expect.objectContaining({ reason: "malformed" }),
      }),
    ]);
    expect(skipKeyOf(h.skipped[0] as SkippedRecord)).toBe("skipped:record:5");
    expect(h.applied).toEqual([`bid:${TASK}#ok#${AT}`]);
  });

  it("never fails the batch when the after-batch hook throws, and skips it when nothing applied", async () => {
    const emitted: EmfOutput[] = [];
    const { logger, metrics } = createObservability({
      logLevel: "SILENT",
      metricsSink: (emf) => emitted.push(emf),
    });
    let calls = 0;
    const handle = createGovernanceStreamHandler({
      projector: { apply: async () => "DUPLICATE", skip: async () => "DUPLICATE" },
      logger,
      metrics,
      afterBatch: async () => {
        calls++;
        throw new Error("anchor store down");
      },
    });

    expect(await handle({ Records: [bidRecord("1", "a")] })).toEqual({ batchItemFailures: [] });
    expect(calls).toBe(0);

    const applying = createGovernanceStreamHandler({
      projector: { apply: async () => "APPLIED", skip: async () => "APPLIED" },
      logger,
      metrics,
      afterBatch: async () => {
        calls++;
        throw new Error("anchor store down");
      },
    });
    expect(await applying({ Records: [bidRecord("1", "a"), bidRecord("2", "b")] })).toEqual({
      batchItemFailures: [],
    });
    expect(calls).toBe(1);
    const anchorFailures = emitted.reduce(
      (sum, emf) =>
        sum + Number((emf as unknown as Record<string, unknown>)[PROJECTOR_METRICS.anchorFailed] ?? 0),
      0,
    );
    expect(anchorFailures).toBe(1);
  });
});

describe("failureBody", () => {
  it("keeps the whole record when it fits, drops only the images when it does not", () => {
    const record = bidRecord("9", "a");
    const failure = {
      kind: "agentforge.projection-failure",
      version: 1,
      record,
      event_keys: [],
      failed_event_key: null,
      error: { class: "permanent", reason: "invalid-data", name: "Error", sqlstate: "22003", message: "m" },
      sequence_number: "9",
      failed_at: AT,
      replay_attempts: 0,
    } as ProjectionFailure;

    expect(JSON.parse(failureBody(failure))).toEqual(failure);
    const small = JSON.parse(failureBody(failure, 300));
    expect(small.images_dropped).toBe(true);
    expect(small.record.dynamodb).toEqual({
      SequenceNumber: "9",
      ApproximateCreationDateTime: Date.parse(AT) / 1000,
    });
  });
});
