import { expect } from "vitest";

/** The verdict on an intact audit chain verified through `rows` (`complete: false`: budget ran out). */
export const intact = (rows: number, complete = true) => ({
  ok: true,
  rows,
  verified_through: rows,
  complete,
});

/** The verdict on a chain broken at `seq`, with the `verified` rows before it good. */
export const brokenAt = (seq: number, verified = seq - 1, reason: unknown = expect.any(String)) => ({
  ok: false,
  rows_checked: verified,
  first_bad_seq: seq,
  reason,
  verified_through: verified,
  complete: true,
});
