/** A fresh data key: use `plaintext` in memory only, store `wrapped` beside what it encrypted. */
export interface DataKey {
  /** 32 bytes (AES-256). Never logged, never stored. */
  plaintext: Buffer;
  /** The data key encrypted under the key-encryption key; only the wrapper can turn it back. */
  wrapped: Buffer;
}

/**
 * Wraps and unwraps data keys under a key-encryption key that never leaves its home: AWS KMS on AWS
 * (`kms-key-wrapper.ts`), a 32-byte key file locally (`local-key-wrapper.ts`). Envelope encryption
 * (`secret-envelope.ts`) sits on top, so the table only ever holds wrapped keys and ciphertext.
 */
export interface KeyWrapper {
  /** Names the wrapper in stored values (`kms`, `local`): a value sealed by one is refused by the other. */
  readonly kind: "kms" | "local";
  generateDataKey(): Promise<DataKey>;
  /** The plaintext of a wrapped data key; throws when it was not wrapped by this key. */
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

/** A stored value does not decrypt: another agent's, another key's, or damaged. Never carries plaintext. */
export class SecretDecryptionError extends Error {
  override name = "SecretDecryptionError";
}
