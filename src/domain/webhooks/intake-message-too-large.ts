/* Its own module, without the message schema: the receiver throws it and bundles no zod. */

/**
 * Thrown by an intake queue when a message is larger than the queue accepts, before anything is sent.
 * Permanent for this delivery (sending it again cannot succeed), so the receiver answers 413, not 503.
 */
export class IntakeMessageTooLargeError extends Error {
  override name = "IntakeMessageTooLargeError";

  constructor(
    /** The message's size as the queue counts it (body and attributes, in bytes). */
    readonly bytes: number,
    /** The largest message the queue takes, in the same unit. */
    readonly maxBytes: number,
  ) {
    super(`Intake message is ${bytes} bytes; the intake queue takes at most ${maxBytes}`);
  }
}
