import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/domain/errors.js";
import { ledgerEntryInputSchema } from "../../src/domain/ledger/ledger.schema.js";
import { newTaskSchema } from "../../src/domain/tasks/task.schema.js";
import { parseOrThrow } from "../../src/domain/validation.js";
import { outcomeInput } from "../helpers/factories.js";

const parse = (input: unknown) => parseOrThrow(ledgerEntryInputSchema, input, "ledger entry");

function pathsOf(input: unknown): string[] {
  try {
    parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues.map((i) => i.path);
  }
  throw new Error("expected a ValidationError");
}

describe("ledger entry validation", () => {
  it("normalises the completion timestamp to UTC with milliseconds, so sort keys order chronologically", () => {
    expect(
      parse(outcomeInput({ completion_timestamp: "2025-07-01T14:30:00+02:00" })).completion_timestamp,
    ).toBe("2025-07-01T12:30:00.000Z");
  });

  it.each([
    ["negative", -1],
    ["infinite", Number.POSITIVE_INFINITY],
    ["NaN", Number.NaN],
    ["a string", "10"],
    ["absurdly large", 1e12],
  ])("rejects amounts that are not finite and >= 0 (%s)", (_label, amount) => {
    expect(pathsOf(outcomeInput({ bid_amount: amount, actual_cost: amount }))).toEqual([
      "bid_amount",
      "actual_cost",
    ]);
  });

  it("accepts zero amounts and the quality bounds 0 and 1", () => {
    expect(parse(outcomeInput({ bid_amount: 0, actual_cost: 0, quality_score: 0 })).quality_score).toBe(0);
    expect(parse(outcomeInput({ quality_score: 1 })).quality_score).toBe(1);
  });

  it.each([[-0.01], [1.01], [Number.NaN]])("rejects quality_score %s outside [0, 1]", (quality_score) => {
    expect(pathsOf(outcomeInput({ quality_score }))).toEqual(["quality_score"]);
  });

  it.each([["DONE"], ["success"], [""]])("rejects status %j", (status) => {
    expect(pathsOf(outcomeInput({ status }))).toEqual(["status"]);
  });

  it.each([
    ["not github-shaped", "https://github.com/octo-org/octo-repo/pull/1"],
    ["http", "http://github.com/o/r/issues/1"],
    ["no number", "https://github.com/o/r/issues/"],
  ])("rejects a task_id that is not an issue URL (%s)", (_label, task_id) => {
    expect(pathsOf(outcomeInput({ task_id }))).toEqual(["task_id"]);
  });

  it.each([
    ["2025-07-01"],
    ["yesterday"],
    ["2025-02-30T00:00:00Z"],
    ["2025-07-01T12:30:00"],
    ["9999-12-31T23:59:59-01:00"],
    ["0001-01-01T00:00:00Z"],
  ])("rejects completion_timestamp %j", (completion_timestamp) => {
    expect(pathsOf(outcomeInput({ completion_timestamp }))).toEqual(["completion_timestamp"]);
  });

  it("validates new tasks: capabilities, budget and deadline", () => {
    const task = parseOrThrow(
      newTaskSchema,
      {
        task_id: "https://github.com/o/r/issues/7",
        title: "t",
        required_capabilities: ["go"],
        budget: 50,
        bid_deadline: "2025-07-01T00:00:00Z",
      },
      "task",
    );
    expect(task.bid_deadline).toBe("2025-07-01T00:00:00.000Z");
    expect(() =>
      parseOrThrow(
        newTaskSchema,
        { task_id: "https://github.com/o/r/issues/7", title: "", required_capabilities: [], budget: -1 },
        "task",
      ),
    ).toThrow(/title.*required_capabilities.*budget/s);
  });
});
