import { describe, expect, it } from "vitest";
import { forEachConcurrent, mapConcurrent } from "../../src/lib/concurrency.js";

/** A task that resolves on the next macrotask, tracking how many run at once. */
function tracker() {
  let running = 0;
  let peak = 0;
  const run = async <T>(value: T): Promise<T> => {
    running += 1;
    peak = Math.max(peak, running);
    await new Promise((resolve) => setImmediate(resolve));
    running -= 1;
    return value;
  };
  return { run, peak: () => peak };
}

describe("mapConcurrent", () => {
  it("keeps at most `limit` in flight and returns results in input order", async () => {
    const { run, peak } = tracker();

    const results = await mapConcurrent([5, 4, 3, 2, 1, 0, 9], 3, (n, i) => run(`${i}:${n}`));

    expect(results).toEqual(["0:5", "1:4", "2:3", "3:2", "4:1", "5:0", "6:9"]);
    expect(peak()).toBe(3);
  });

  it("runs every item even when some fail, then rethrows the first failure", async () => {
    const seen: number[] = [];

    const result = mapConcurrent([1, 2, 3, 4], 2, async (n) => {
      seen.push(n);
      if (n % 2 === 0) throw new Error(`failed ${n}`);
      return n;
    });

    await expect(result).rejects.toThrow("failed 2");
    expect(seen.sort()).toEqual([1, 2, 3, 4]);
  });

  it("treats a limit below 1 as 1 and an empty list as nothing to do", async () => {
    const { run, peak } = tracker();

    expect(await mapConcurrent([1, 2], 0, run)).toEqual([1, 2]);
    expect(peak()).toBe(1);
    expect(await mapConcurrent([], 4, run)).toEqual([]);
  });
});

describe("forEachConcurrent", () => {
  it("visits each item once with its index", async () => {
    const visits: string[] = [];

    await forEachConcurrent(["a", "b", "c"], 2, async (item, index) => {
      visits.push(`${index}${item}`);
    });

    expect(visits.sort()).toEqual(["0a", "1b", "2c"]);
  });
});
