import { describe, expect, it } from "vitest";
import { ValidationError } from "../../src/domain/errors.js";
import { normalizeDecimal } from "../../src/domain/governance/money.js";

describe("normalizeDecimal", () => {
  it.each([
    ["120.5", "120.500000"],
    ["7", "7.000000"],
    ["0", "0.000000"],
    ["007.10", "7.100000"],
    ["0.000001", "0.000001"],
    ["12.3400000000", "12.340000"],
    ["99999999999999.999999", "99999999999999.999999"],
    ["120.500000", "120.500000"],
  ])("normalises the string %s to %s", (input, expected) => {
    expect(normalizeDecimal(input)).toBe(expected);
  });

  it.each([
    [120.5, "120.500000"],
    [0, "0.000000"],
    [-0, "0.000000"],
    [0.000001, "0.000001"],
    [1e13, "10000000000000.000000"],
  ])("normalises the number %s to %s", (input, expected) => {
    expect(normalizeDecimal(input)).toBe(expected);
  });

  it("is idempotent, so a value read back from numeric(20,6) normalises to itself", () => {
    for (const value of ["1", "0.1", "123456.654321", "5.5"]) {
      const once = normalizeDecimal(value);
      expect(normalizeDecimal(once)).toBe(once);
    }
  });

  it.each([
    ["NaN", Number.NaN, /NaN/],
    ["Infinity", Number.POSITIVE_INFINITY, /finite/],
    ["a negative number", -1, /negative/],
    ["a negative string", "-0.5", /negative/],
    ["a float that is not an exact 6-place decimal", 0.1 + 0.2, /6 decimal places/],
    ["seven decimal places", "1.0000001", /6 decimal places/],
    ["a tiny number in exponent form", 1e-7, /6 decimal places/],
    ["fifteen integer digits", "100000000000000", /14 digits/],
    ["a huge number", 1e21, /14 digits/],
    ["exponent notation in a string", "1e3", /plain decimal/],
    ["an empty string", "", /plain decimal/],
    ["whitespace", " 1.5", /plain decimal/],
    ["a leading point", ".5", /plain decimal/],
    ["a trailing point", "5.", /plain decimal/],
    ["a thousands separator", "1,000", /plain decimal/],
    ["an overlong string", "1".repeat(65), /64 characters/],
  ])("refuses %s with a ValidationError", (_name, input, message) => {
    const error = (() => {
      try {
        normalizeDecimal(input as string | number, "bid_amount");
      } catch (e) {
        return e;
      }
      return undefined;
    })();

    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(message);
    expect((error as ValidationError).issues).toEqual([{ path: "bid_amount", message: expect.any(String) }]);
  });
});
