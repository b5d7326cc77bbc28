import type { IntakeMessage } from "../domain/webhooks/intake-message.js";

/**
 * Where verified webhook deliveries wait for the webhook worker. The receiver only answers GitHub
 * after `send` resolves, so a delivery that was acknowledged is never lost.
 */
export interface IntakeQueue {
  /** Puts one delivery on the queue. Rejects when the queue cannot take it (the receiver answers 503). */
  send(message: IntakeMessage): Promise<void>;
}
