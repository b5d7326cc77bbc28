import * as z from "zod";
import { isoTimestampSchema } from "../common.schema.js";
import { GITHUB_DELIVERY_ID_PATTERN, GITHUB_EVENT_PATTERN } from "./github-headers.js";

export { GITHUB_DELIVERY_ID_PATTERN, GITHUB_EVENT_PATTERN } from "./github-headers.js";

/** A SHA-256 digest as the receiver writes it: 64 lowercase hex digits. */
export const BODY_SHA256_PATTERN = /^[0-9a-f]{64}$/;

/**
 * What the webhook receiver puts on the intake queue: the verified delivery, parsed once and reduced to
 * the fields the worker reads (see `slimPayload`). The worker validates it again at its own edge with
 * the receiver's own rules, so a hand-crafted or truncated message is rejected, not run.
 */
export const intakeMessageSchema = z.strictObject({
  delivery_id: z
    .string()
    .regex(
      GITHUB_DELIVERY_ID_PATTERN,
      "must be 1-128 letters, digits or '-', starting with a letter or digit",
    ),
  event: z.string().regex(GITHUB_EVENT_PATTERN, "must be 1-64 lowercase letters or '_'"),
  /** When the receiver accepted the delivery (ISO-8601 with a zone; the receiver writes `toISOString()`). */
  received_at: isoTimestampSchema,
  /**
   * SHA-256 of the raw body the signature covers, lowercase hex. The worker dedupes on it as well as on
   * `delivery_id`, which GitHub does not sign. Optional so that messages queued before it existed are
   * still taken (they are deduped by id alone).
   */
  body_sha256: z.string().regex(BODY_SHA256_PATTERN, "must be 64 lowercase hex digits").optional(),
  payload: z.record(z.string(), z.unknown()),
});

export type IntakeMessage = z.output<typeof intakeMessageSchema>;

export { IntakeMessageTooLargeError } from "./intake-message-too-large.js";
