import { ValidationError } from "../errors.js";

/** Decimal places money keeps: the scale of `numeric(20,6)`. */
export const MONEY_SCALE = 6;
/** Digits before the point that `numeric(20,6)` can hold. */
export const MONEY_INTEGER_DIGITS = 14;

/** Longer input is refused before parsing, so a megabyte of zeros is not worth stripping. */
const MAX_INPUT_LENGTH = 64;
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/**
 * The canonical text of an exact, non-negative amount: no leading zeros and exactly
 * {@link MONEY_SCALE} decimal places, the way PostgreSQL prints a `numeric(20,6)`
 * (`"120.5"` → `"120.500000"`, `7` → `"7.000000"`). Idempotent, so a value read back from the
 * database normalises to itself, which is what lets the audit chain sign amounts as text.
 *
 * Nothing is ever rounded: a value that would need rounding (more than 6 significant decimal places,
 * a float such as `0.1 + 0.2`), more than 14 integer digits, a negative amount, NaN, Infinity,
 * exponent notation or anything that is not plain `digits[.digits]` throws a {@link ValidationError}
 * whose single issue is at `path`.
 */
export function normalizeDecimal(value: string | number, path = "amount"): string {
  const text = typeof value === "number" ? numberText(value, path) : value;
  if (typeof text !== "string") throw invalid(path, "must be a decimal string or number", value);
  if (text.length > MAX_INPUT_LENGTH) throw invalid(path, `must be at most ${MAX_INPUT_LENGTH} characters`);
  if (text.startsWith("-")) throw invalid(path, "must not be negative", value);
  const match = DECIMAL.exec(text);
  if (!match) throw invalid(path, "must be a plain decimal such as 120.5", value);
  const integer = (match[1] ?? "").replace(/^0+(?=\d)/, "");
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (integer.length > MONEY_INTEGER_DIGITS) {
    throw invalid(path, `must have at most ${MONEY_INTEGER_DIGITS} digits before the decimal point`, value);
  }
  if (fraction.length > MONEY_SCALE) {
    throw invalid(path, `must have at most ${MONEY_SCALE} decimal places`, value);
  }
  return `${integer}.${fraction.padEnd(MONEY_SCALE, "0")}`;
}

function numberText(value: number, path: string): string {
  if (Number.isNaN(value)) throw invalid(path, "must be a number, not NaN");
  if (!Number.isFinite(value)) throw invalid(path, "must be finite", value);
  if (value < 0) throw invalid(path, "must not be negative", value);
  const text = String(value);
  // String() switches to exponent notation only below 1e-6 or from 1e21 on: both out of range.
  if (/e/i.test(text)) {
    throw invalid(
      path,
      value < 1
        ? `must have at most ${MONEY_SCALE} decimal places`
        : `must have at most ${MONEY_INTEGER_DIGITS} digits before the decimal point`,
      value,
    );
  }
  return text;
}

function invalid(path: string, message: string, value?: unknown): ValidationError {
  const shown = value === undefined ? "" : ` (got ${JSON.stringify(String(value).slice(0, 40))})`;
  return new ValidationError(`Invalid ${path}: ${message}${shown}`, [{ path, message }]);
}
