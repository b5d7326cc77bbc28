/** One signed message's claim on its nonce. */
export interface NonceClaim {
  agent_id: string;
  nonce: string;
  /** The SQS message id: a redelivery of the same message keeps its claim. */
  message_id: string;
  /** The message's own `sent_at`. */
  sent_at: string;
  /** Epoch seconds after which the claim may be forgotten. */
  expires_at: number;
}

/** Remembers which nonces each agent has used. */
export interface NonceStore {
  /**
   * Claims `nonce` for `agent_id`. `true` when it was unused, or was claimed by this same message (a
   * redelivery); `false` when another message used it first (a replay).
   */
  claim(claim: NonceClaim): Promise<boolean>;
}
