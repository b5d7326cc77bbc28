import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeIntakeBody } from "../../src/adapters/sqs/intake-queue.js";
import type { IntakeMessage } from "../../src/domain/webhooks/intake-message.js";

/** True when every character is one SQS accepts in a message body (its documented ranges). */
function isSqsText(text: string): boolean {
  return [...text].every((char) => {
    const c = char.codePointAt(0) ?? 0;
    return (
      c === 0x9 ||
      c === 0xa ||
      c === 0xd ||
      (c >= 0x20 && c <= 0xd7ff) ||
      (c >= 0xe000 && c <= 0xfffd) ||
      (c >= 0x10000 && c <= 0x10ffff)
    );
  });
}

const anyText = (maxLength: number) =>
  fc
    .array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength })
    .map((points) => String.fromCodePoint(...points));

const message = (payload: Record<string, unknown>): IntakeMessage => ({
  delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
  event: "issues",
  received_at: "2025-07-01T12:00:05.000Z",
  payload,
});

describe("intake message body", () => {
  it("escapes the two characters SQS refuses, and parses back to the same message", () => {
    const original = message({ issue: { title: "odd \uFFFF and \uFFFE chars", body: "\u0000\uD800" } });

    const body = encodeIntakeBody(original);

    expect(isSqsText(body)).toBe(true);
    expect(body).toContain("\\uffff");
    expect(JSON.parse(body)).toEqual(original);
  });

  it("is always valid SQS text that round-trips, for any JSON payload", () => {
    fc.assert(
      fc.property(
        fc.dictionary(anyText(12), fc.oneof(anyText(40), fc.integer(), fc.boolean())),
        (payload) => {
          const original = message(payload);
          const body = encodeIntakeBody(original);

          expect(isSqsText(body)).toBe(true);
          expect(JSON.parse(body)).toEqual(original);
        },
      ),
      { numRuns: 300 },
    );
  });
});
