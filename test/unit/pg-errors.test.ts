import { describe, expect, it } from "vitest";
import { classifyPgError, isPgUnavailableError } from "../../src/adapters/postgres/pg-errors.js";
import { ConflictError, isStoreUnavailable } from "../../src/domain/errors.js";

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("Postgres error classification", () => {
  it.each([
    ["statement timeout (57014)", withCode("canceling statement due to statement timeout", "57014")],
    ["lock timeout (55P03)", withCode("canceling statement due to lock timeout", "55P03")],
    ["connection exception class 08", withCode("connection failure", "08006")],
    [
      "server shutting down (57P01)",
      withCode("terminating connection due to administrator command", "57P01"),
    ],
    ["too many connections (53300)", withCode("sorry, too many clients already", "53300")],
    ["refused", withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED")],
    ["reset", withCode("read ECONNRESET", "ECONNRESET")],
    ["pool connect timeout", new Error("timeout exceeded when trying to connect")],
    [
      "new connection timed out (wrapped)",
      new Error("Connection terminated due to connection timeout", { cause: new Error("x") }),
    ],
    ["cut connection", new Error("Connection terminated unexpectedly")],
    ["client query timeout", new Error("Query read timeout")],
    [
      "a wrapped network error",
      new Error("outer", { cause: withCode("connect EHOSTUNREACH", "EHOSTUNREACH") }),
    ],
  ])("%s is unavailable: a 503", (_label, error) => {
    expect(isPgUnavailableError(error)).toBe(true);
    const classified = classifyPgError(error);
    expect(isStoreUnavailable(classified)).toBe(true);
    expect((classified as Error).cause).toBe(error);
  });

  it.each([
    ["unique violation (23505)", withCode("duplicate key value violates unique constraint", "23505")],
    ["undefined table (42P01)", withCode('relation "escrows" does not exist', "42P01")],
    ["syntax error (42601)", withCode("syntax error at or near", "42601")],
    ["an illegal transition raised by a trigger", withCode("illegal escrow transition", "P0001")],
    ["a bug", new TypeError("Cannot read properties of undefined (reading 'rows')")],
    ["a domain refusal", new ConflictError("escrow already resolved")],
    ["a pool used after end", new Error("Cannot use a pool after calling end on the pool")],
    ["not an error at all", "boom"],
  ])("%s is not: it stays what it is (a 500 or its own status)", (_label, error) => {
    expect(isPgUnavailableError(error)).toBe(false);
    expect(classifyPgError(error)).toBe(error);
  });
});
