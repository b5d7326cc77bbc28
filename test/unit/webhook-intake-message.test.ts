import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  GITHUB_DELIVERY_ID_PATTERN,
  GITHUB_EVENT_PATTERN,
  type IntakeMessage,
  intakeMessageSchema,
} from "../../src/domain/webhooks/intake-message.js";
import { HttpError } from "../../src/http/http-error.js";
import { normalizeHeaders, readDeliveryHeaders } from "../../src/http/webhook-request.js";

const valid: IntakeMessage = {
  delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
  event: "pull_request_review",
  received_at: "2025-07-01T12:00:05.000Z",
  payload: { action: "submitted" },
};

const issuesOf = (message: unknown) => {
  const result = intakeMessageSchema.safeParse(message);
  return result.success ? [] : result.error.issues.map((i) => i.path.join("."));
};

/** Whether the receiver takes these header values (the same rules must hold on the worker side). */
function receiverAccepts(event: string, deliveryId: string): boolean {
  try {
    readDeliveryHeaders(normalizeHeaders({ "x-github-event": event, "x-github-delivery": deliveryId }));
    return true;
  } catch (error) {
    if (error instanceof HttpError) return false;
    throw error;
  }
}

describe("intake message", () => {
  it("accepts what the receiver writes, normalising received_at", () => {
    expect(intakeMessageSchema.parse(valid)).toEqual(valid);
    // `valid` has no body hash, as messages queued before the receiver sent one; both are taken.
    const hashed = { ...valid, body_sha256: "0123456789abcdef".repeat(4) };
    expect(intakeMessageSchema.parse(hashed)).toEqual(hashed);
    expect(
      intakeMessageSchema.parse({ ...valid, received_at: "2025-07-01T14:00:05+02:00" }).received_at,
    ).toBe("2025-07-01T12:00:05.000Z");
  });

  it.each([
    ["a delivery id with a key separator", { delivery_id: "DELIVERY#1" }, "delivery_id"],
    ["a delivery id starting with a dash", { delivery_id: "-72d3162e" }, "delivery_id"],
    ["a delivery id over 128 characters", { delivery_id: "a".repeat(129) }, "delivery_id"],
    ["an empty delivery id", { delivery_id: "" }, "delivery_id"],
    ["a delivery id with a newline", { delivery_id: "abc\n" }, "delivery_id"],
    ["an event in capitals", { event: "Issues" }, "event"],
    ["an event with a dash", { event: "issue-comment" }, "event"],
    ["an event over 64 characters", { event: "a".repeat(65) }, "event"],
    ["received_at that is not a timestamp", { received_at: "yesterday" }, "received_at"],
    ["received_at without a time", { received_at: "2025-07-01" }, "received_at"],
    ["received_at without a zone", { received_at: "2025-07-01T12:00:05" }, "received_at"],
    ["received_at on a day that does not exist", { received_at: "2025-02-30T12:00:05Z" }, "received_at"],
    ["a body hash in capitals", { body_sha256: "A".repeat(64) }, "body_sha256"],
    ["a body hash that is too short", { body_sha256: "a".repeat(63) }, "body_sha256"],
    ["a payload that is not an object", { payload: [1] }, "payload"],
    ["an unknown field", { extra: 1 }, ""],
  ])("refuses %s", (_, change, path) => {
    expect(issuesOf({ ...valid, ...change })).toEqual([path]);
  });

  it("applies exactly the receiver's header rules to event and delivery_id", () => {
    const candidate = fc.oneof(
      fc.uuid(),
      fc.stringMatching(/^[a-z_]{1,70}$/),
      fc.stringMatching(/^[A-Za-z0-9-]{0,140}$/),
      fc.string({ maxLength: 140 }),
    );
    fc.assert(
      fc.property(candidate, candidate, (event, deliveryId) => {
        const worker = issuesOf({ ...valid, event, delivery_id: deliveryId }).length === 0;
        expect(worker).toBe(receiverAccepts(event, deliveryId));
      }),
      { numRuns: 2_000 },
    );
    expect(GITHUB_EVENT_PATTERN.test("check_suite")).toBe(true);
    expect(GITHUB_DELIVERY_ID_PATTERN.test(valid.delivery_id)).toBe(true);
  });
});
