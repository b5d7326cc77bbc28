import { describe, expect, it } from "vitest";
import {
  addTotals,
  averageQuality,
  contributionOf,
  deriveHistory,
  ZERO_TOTALS,
} from "../../src/domain/agents/performance.js";

describe("performance history from exact sums", () => {
  it("is all zeros before the first outcome", () => {
    expect(deriveHistory(ZERO_TOTALS)).toEqual({
      average_cost_per_task: 0,
      success_rate: 0,
      average_completion_time_sec: 0,
      total_tasks_completed: 0,
    });
    expect(averageQuality(ZERO_TOTALS)).toBeUndefined();
  });

  it("keeps cost sums exact where floating point addition drifts", () => {
    let totals = ZERO_TOTALS;
    let floatSum = 0;
    for (let i = 0; i < 10; i++) {
      totals = addTotals(
        totals,
        contributionOf({ status: "SUCCESS", actual_cost: 0.1, quality_score: 0.7, completion_time_sec: 10 }),
      );
      floatSum += 0.1;
    }

    expect(floatSum).not.toBe(1);
    expect(totals.cost_micros).toBe(1_000_000);
    expect(deriveHistory(totals).average_cost_per_task).toBe(0.1);
    expect(averageQuality(totals)).toBe(0.7);
  });

  it("averages completion time only over outcomes that reported one", () => {
    const timed = contributionOf({
      status: "SUCCESS",
      actual_cost: 1,
      quality_score: 1,
      completion_time_sec: 100,
    });
    const untimed = contributionOf({ status: "FAILURE", actual_cost: 3, quality_score: 0 });

    const history = deriveHistory(addTotals(timed, untimed));

    expect(history).toEqual({
      average_cost_per_task: 2,
      success_rate: 0.5,
      average_completion_time_sec: 100,
      total_tasks_completed: 2,
    });
  });

  it("a correction subtracts the superseded contribution, leaving one outcome per task", () => {
    const success = contributionOf({
      status: "SUCCESS",
      actual_cost: 5,
      quality_score: 1,
      completion_time_sec: 60,
    });
    const failure = contributionOf({
      status: "FAILURE",
      actual_cost: 2,
      quality_score: 0.2,
      completion_time_sec: 90,
    });

    const corrected = addTotals(addTotals(ZERO_TOTALS, success), addTotals(failure, success, -1));

    expect(corrected).toEqual(failure);
    expect(deriveHistory(corrected).success_rate).toBe(0);
  });

  it("rounds repeating fractions to six decimals", () => {
    const one = contributionOf({ status: "SUCCESS", actual_cost: 1, quality_score: 1 });
    const two = contributionOf({ status: "FAILURE", actual_cost: 1, quality_score: 1 });

    expect(deriveHistory(addTotals(addTotals(one, two), two)).success_rate).toBe(0.333333);
  });
});
