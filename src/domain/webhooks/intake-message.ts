import { z } from "zod";

/**
 * What the webhook receiver puts on the intake queue: the verified delivery, parsed once. The worker
 * validates it again at its own edge, so a hand-crafted or truncated message is rejected, not run.
 */
export const intakeMessageSchema = z.strictObject({
  delivery_id: z.string().min(1).max(128),
  event: z.string().min(1).max(64),
  /** When the receiver accepted the delivery (ISO). */
  received_at: z.string(),
  payload: z.record(z.string(), z.unknown()),
});

export type IntakeMessage = z.output<typeof intakeMessageSchema>;
