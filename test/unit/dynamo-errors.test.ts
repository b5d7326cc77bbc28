import { describe, expect, it } from "vitest";
import {
  checkCursor,
  RetryableConflict,
  rethrowCursorError,
  withOptimisticRetry,
} from "../../src/adapters/dynamo/dynamo-errors.js";
import { ConflictError, ValidationError } from "../../src/domain/errors.js";

/** Encodes a key the way ElectroDB 3 encodes a `LastEvaluatedKey` as a cursor. */
const encode = (value: unknown, encoding: BufferEncoding = "base64url") =>
  Buffer.from(JSON.stringify(value)).toString(encoding);

const tableKey = { PK: "AGENT#a1", SK: "CAP#python" };
const gsi1Key = { ...tableKey, GSI1PK: "CAP#python", GSI1SK: "AGENT#a1" };

function expectInvalidCursor(cursor: string) {
  expect(() => checkCursor(cursor)).toThrow(ValidationError);
  expect(() => checkCursor(cursor)).toThrow("Invalid cursor");
}

describe("checkCursor", () => {
  it("treats a missing or empty cursor as the first page", () => {
    expect(checkCursor(undefined)).toBeUndefined();
    expect(checkCursor("")).toBeUndefined();
  });

  it("passes through cursors of the shapes this table's queries return, unchanged", () => {
    for (const key of [
      tableKey,
      gsi1Key,
      { ...tableKey, GSI2PK: "AGENT#a1", GSI2SK: "LEDGER#2026-01-01T00:00:00.000Z" },
      { ...tableKey, GSI3PK: "OPEN_TASK#3", GSI3SK: "2026-01-01T00:00:00.000Z#https://x" },
    ]) {
      const cursor = encode(key);
      expect(checkCursor(cursor)).toBe(cursor);
    }
    // ElectroDB decodes with Node's base64url decoder, which also takes the standard alphabet.
    const standard = encode({ PK: "a?>?", SK: "b~~~" }, "base64");
    expect(standard).toMatch(/[+/]/);
    expect(checkCursor(standard)).toBe(standard);
  });

  it.each([
    ["characters outside base64", "not a cursor!"],
    ["percent signs", "%%%"],
    ["base64 of something that is not JSON", Buffer.from("PK=1").toString("base64url")],
    ["truncated JSON", encode(tableKey).slice(0, 12)],
    ["far too long", encode({ PK: "x".repeat(3000), SK: "y" })],
  ])("rejects a malformed cursor: %s", (_what, cursor) => {
    expectInvalidCursor(cursor);
  });

  it.each([
    ["numbers (the 'Type mismatch' forgery)", { GSI1PK: 1, GSI1SK: 2, PK: 3, SK: 4 }],
    ["a DynamoDB attribute-value map", { PK: { S: "a" }, SK: { S: "b" } }],
    ["null", { PK: null, SK: "b" }],
    ["an empty string", { PK: "", SK: "b" }],
    ["a boolean", { PK: "a", SK: true }],
    ["a JSON string", "PK"],
    ["a JSON array", ["PK", "SK"]],
    ["JSON null", null],
    ["a JSON number", 42],
  ])("rejects a cursor whose values are of the wrong type: %s", (_what, value) => {
    expectInvalidCursor(encode(value));
  });

  it.each([
    ["an unknown attribute", { PK: "a", SK: "b", owner: "c", GSI1SK: "d" }],
    ["a non-key attribute alone", { agent_id: "a", status: "b" }],
    ["__proto__", JSON.parse('{"PK":"a","__proto__":"b"}')],
    ["one key", { PK: "a" }],
    ["three keys", { PK: "a", SK: "b", GSI1PK: "c" }],
    ["five keys", { ...gsi1Key, GSI2PK: "e" }],
    ["an index key without the table key", { GSI1PK: "a", GSI1SK: "b" }],
    ["keys of two different indexes", { PK: "a", SK: "b", GSI1PK: "c", GSI2SK: "d" }],
    ["two index keys and no table key", { GSI1PK: "a", GSI1SK: "b", GSI2PK: "c", GSI2SK: "d" }],
    ["an empty object", {}],
  ])("rejects a cursor with the wrong keys: %s", (_what, value) => {
    expectInvalidCursor(encode(value));
  });
});

/** An SDK error wrapped the way ElectroDB wraps it, with the request's parameters attached. */
function electroAwsError(name: string, message: string, request?: Record<string, unknown>) {
  const sdkError = Object.assign(new Error(message), { name });
  const wrapped = new Error(`Error thrown by DynamoDB client: "${message}"`, { cause: sdkError });
  if (request) Object.defineProperty(wrapped, "params", { value: () => request, enumerable: false });
  return wrapped;
}

describe("rethrowCursorError", () => {
  const withStartKey = { TableName: "t", ExclusiveStartKey: tableKey };

  it.each([
    ["a type mismatch", "Type mismatch for Index Key PK Expected: S Actual: N IndexName: GSI1"],
    ["an invalid starting key", "The provided starting key is invalid"],
    ["any other validation failure", "One or more parameter values were invalid: whatever"],
  ])("maps a DynamoDB ValidationException with a cursor to ValidationError: %s", (_what, message) => {
    const error = electroAwsError("ValidationException", message, withStartKey);
    expect(() => rethrowCursorError(error)).toThrow(ValidationError);
    expect(() => rethrowCursorError(error, true)).toThrow("Invalid cursor");
    // Without ElectroDB's request parameters the cursor still takes the blame.
    expect(() => rethrowCursorError(electroAwsError("ValidationException", message))).toThrow(
      ValidationError,
    );
  });

  it("maps ElectroDB's own cursor-parsing failure", () => {
    expect(() => rethrowCursorError(new Error("Unable to parse cursor"))).toThrow(ValidationError);
  });

  it("does not blame the cursor when none was given or the request carried no start key", () => {
    const error = electroAwsError("ValidationException", "Type mismatch", withStartKey);
    expect(() => rethrowCursorError(error, false)).toThrow(error);
    const noStartKey = electroAwsError("ValidationException", "Type mismatch", { TableName: "t" });
    expect(() => rethrowCursorError(noStartKey)).toThrow(noStartKey);
  });

  it("rethrows errors that are not the cursor's fault unchanged", () => {
    for (const error of [
      electroAwsError("ProvisionedThroughputExceededException", "slow down", withStartKey),
      electroAwsError("InternalServerError", "boom", withStartKey),
      new TypeError("a bug"),
    ]) {
      expect(() => rethrowCursorError(error)).toThrow(error);
    }
  });
});

describe("withOptimisticRetry", () => {
  it("retries lost races until an attempt commits", async () => {
    let calls = 0;
    const result = await withOptimisticRetry("test", async () => {
      calls += 1;
      if (calls < 3) throw new RetryableConflict();
      return "done";
    });
    expect([result, calls]).toEqual(["done", 3]);
  });

  it("rethrows other errors at once", async () => {
    let calls = 0;
    const boom = new Error("boom");
    await expect(
      withOptimisticRetry("test", async () => {
        calls += 1;
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(calls).toBe(1);
  });

  it("gives up with a ConflictError after the attempt limit", async () => {
    let calls = 0;
    const run = withOptimisticRetry(
      "hot item",
      async () => {
        calls += 1;
        throw new RetryableConflict();
      },
      { attempts: 5, baseDelayMs: 0, maxDelayMs: 0 },
    );
    await expect(run).rejects.toThrow(ConflictError);
    await expect(run).rejects.toThrow(/hot item: gave up after 5 concurrent-write conflicts/);
    expect(calls).toBe(5);
  });

  it("gives up with a ConflictError once the time budget is spent, however many attempts remain", async () => {
    let calls = 0;
    const started = performance.now();
    const run = withOptimisticRetry(
      "hot item",
      async () => {
        calls += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        throw new RetryableConflict();
      },
      { attempts: 1_000_000, budgetMs: 60, baseDelayMs: 2, maxDelayMs: 10 },
    );
    await expect(run).rejects.toThrow(ConflictError);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(55);
    // One attempt may start just before the deadline and run its 5 ms past it, plus timer slack.
    expect(elapsed).toBeLessThan(1_000);
    expect(calls).toBeGreaterThan(1);
    expect(calls).toBeLessThan(100);
  });

  it("backoff sleeps never overshoot the budget", async () => {
    const started = performance.now();
    await expect(
      withOptimisticRetry(
        "hot item",
        async () => {
          throw new RetryableConflict();
        },
        // Without the budget cap a single backoff could sleep up to 10 s.
        { budgetMs: 30, baseDelayMs: 10_000, maxDelayMs: 10_000 },
      ),
    ).rejects.toThrow(ConflictError);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("a zero budget still makes one attempt", async () => {
    let calls = 0;
    await expect(
      withOptimisticRetry(
        "hot item",
        async () => {
          calls += 1;
          throw new RetryableConflict();
        },
        { budgetMs: 0 },
      ),
    ).rejects.toThrow(ConflictError);
    expect(calls).toBe(1);
    await expect(withOptimisticRetry("cold item", async () => 7, { budgetMs: 0 })).resolves.toBe(7);
  });
});
