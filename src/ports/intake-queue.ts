import type { IntakeMessage } from "../domain/webhooks/intake-message.js";

/**
 * Where verified webhook deliveries wait for the webhook worker. The receiver only answers GitHub
 * after `send` resolves, so a delivery that was acknowledged is never lost.
 */
export interface IntakeQueue {
  /**
   * Puts one delivery on the queue. Rejects with `IntakeMessageTooLargeError` when the message is over
   * the queue's size limit (the receiver answers 413), and with any other error when the queue is
   * unreachable (503).
   */
  send(message: IntakeMessage): Promise<void>;
}
