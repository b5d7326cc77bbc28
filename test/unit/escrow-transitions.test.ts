import { describe, expect, it } from "vitest";
import { ConflictError } from "../../src/domain/errors.js";
import { assertEscrowTransition, isFinalEscrowStatus } from "../../src/domain/governance/escrow.js";
import { ESCROW_RESOLVERS, ESCROW_STATUSES } from "../../src/domain/governance/governance.types.js";

const LEGAL = new Set([
  "pending>released>api",
  "pending>released>judge",
  "pending>disputed>api",
  "pending>disputed>judge",
  "pending>refunded>timeout",
  "pending>refunded>judge",
  "disputed>released>judge",
  "disputed>refunded>judge",
]);

describe("escrow state machine", () => {
  for (const from of ESCROW_STATUSES) {
    for (const to of ESCROW_STATUSES) {
      for (const by of ESCROW_RESOLVERS) {
        const key = `${from}>${to}>${by}`;
        it(`${from} → ${to} by ${by}: ${LEGAL.has(key) ? "allowed" : "refused"}`, () => {
          if (LEGAL.has(key)) expect(() => assertEscrowTransition(from, to, by)).not.toThrow();
          else expect(() => assertEscrowTransition(from, to, by)).toThrow(ConflictError);
        });
      }
    }
  }

  it("released and refunded are final", () => {
    expect(ESCROW_STATUSES.filter(isFinalEscrowStatus)).toEqual(["released", "refunded"]);
  });
});
