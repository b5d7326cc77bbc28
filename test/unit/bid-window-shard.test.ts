import { describe, expect, it } from "vitest";
import { BID_WINDOW_SHARDS, bidWindowShard } from "../../src/adapters/dynamo/bid-window-shard.js";

const url = (n: number, repo = "octo-repo") => `https://github.com/octo-org/${repo}/issues/${n}`;

describe("bidWindowShard", () => {
  it("is stable: the same task id always maps to the same shard, fixed across releases", () => {
    // Pinned values: a change here moves stored windows to other partitions (a migration).
    expect(bidWindowShard("")).toBe(0x811c9dc5 % BID_WINDOW_SHARDS);
    expect(bidWindowShard("a")).toBe(0xe40c292c % BID_WINDOW_SHARDS);
    expect(bidWindowShard("foobar")).toBe(0xbf9cf968 % BID_WINDOW_SHARDS);
    for (let n = 1; n <= 50; n += 1) expect(bidWindowShard(url(n))).toBe(bidWindowShard(url(n)));
  });

  it("returns an integer shard in [0, BID_WINDOW_SHARDS)", () => {
    expect(BID_WINDOW_SHARDS).toBe(8);
    for (const id of ["", "x", url(1), url(2, "ünïcödé-☃"), `${url(3)}${"z".repeat(2000)}`]) {
      const shard = bidWindowShard(id);
      expect(Number.isInteger(shard)).toBe(true);
      expect(shard).toBeGreaterThanOrEqual(0);
      expect(shard).toBeLessThan(BID_WINDOW_SHARDS);
    }
  });

  it("spreads issue URLs evenly enough: every shard within ±25% of its share of 8,000 tasks", () => {
    const counts = new Array<number>(BID_WINDOW_SHARDS).fill(0);
    for (let n = 1; n <= 4000; n += 1) {
      for (const repo of ["octo-repo", "other"]) {
        const shard = bidWindowShard(url(n, repo));
        counts[shard] = (counts[shard] ?? 0) + 1;
      }
    }
    const share = 8000 / BID_WINDOW_SHARDS;
    for (const count of counts) {
      expect(count).toBeGreaterThan(share * 0.75);
      expect(count).toBeLessThan(share * 1.25);
    }
  });
});
