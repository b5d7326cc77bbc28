import type { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import {
  createSqsIntakeQueue,
  encodeIntakeBody,
  intakeMessageBytes,
  SQS_MAX_MESSAGE_BYTES,
} from "../../src/adapters/sqs/intake-queue.js";
import { type IntakeMessage, IntakeMessageTooLargeError } from "../../src/domain/webhooks/intake-message.js";

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

describe("intake message size", () => {
  /** A queue over a fake SQS client that records what it would send. */
  function recordingQueue(maxMessageBytes?: number) {
    const sent: SendMessageCommand[] = [];
    const client = { send: vi.fn(async (command: SendMessageCommand) => sent.push(command)) };
    const queue = createSqsIntakeQueue({
      client: client as unknown as SQSClient,
      queueUrl: "http://127.0.0.1:9/123456789012/intake",
      ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    });
    return { queue, sent };
  }

  it("is the body's UTF-8 bytes plus each attribute's name, type and value, as SQS counts it", () => {
    const original = message({ title: "é漢😀 and \uFFFF" });
    const attributes = ["event", "String", "issues", "delivery_id", "String", original.delivery_id];

    expect(intakeMessageBytes(original)).toBe(
      Buffer.byteLength(encodeIntakeBody(original)) + attributes.join("").length,
    );
    // é 2 bytes, 漢 3, 😀 4; U+FFFF is sent as the 6-byte escape \uffff.
    expect(
      intakeMessageBytes(message({ title: "é漢😀\uFFFF" })) - intakeMessageBytes(message({ title: "" })),
    ).toBe(2 + 3 + 4 + 6);
  });

  it("is capped at 256 KiB by default, which both SQS and the emulator take", () => {
    expect(SQS_MAX_MESSAGE_BYTES).toBe(262_144);
  });

  it("sends a message of exactly the limit, and refuses one byte more before calling SQS", async () => {
    const base = intakeMessageBytes(message({ pad: "" }));
    const { queue, sent } = recordingQueue(base + 100);

    await queue.send(message({ pad: "x".repeat(100) }));
    const refused = queue.send(message({ pad: "x".repeat(101) }));

    await expect(refused).rejects.toBeInstanceOf(IntakeMessageTooLargeError);
    await expect(refused).rejects.toMatchObject({ bytes: base + 101, maxBytes: base + 100 });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.input.MessageBody).toBe(encodeIntakeBody(message({ pad: "x".repeat(100) })));
  });

  it("counts multibyte text in bytes, not characters", async () => {
    const { queue, sent } = recordingQueue();
    const nearLimit = SQS_MAX_MESSAGE_BYTES - intakeMessageBytes(message({ pad: "" }));

    await queue.send(message({ pad: "x".repeat(nearLimit) }));
    await expect(queue.send(message({ pad: "漢".repeat(Math.ceil(nearLimit / 2)) }))).rejects.toThrow(
      /Intake message is \d+ bytes; the intake queue takes at most 262144/,
    );
    expect(sent).toHaveLength(1);
  });
});
