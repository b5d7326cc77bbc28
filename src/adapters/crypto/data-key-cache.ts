import type { DataKey, KeyWrapper } from "./key-wrapper.js";

/** How long and how often data keys are reused. Defaults: {@link DEFAULT_DATA_KEY_CACHE}. */
export interface DataKeyCachePolicy {
  /** How long one generated data key keeps encrypting. */
  encryptMaxAgeMs: number;
  /** How many encryptions one generated data key may do. */
  encryptMaxUses: number;
  /** How long an unwrapped data key is kept for decryption. */
  decryptTtlMs: number;
  /** Most unwrapped data keys kept (least recently used go first). */
  decryptMaxEntries: number;
}

/**
 * Five minutes either way: a registration burst or a warm function's verifications cost one KMS
 * call per five minutes instead of one per secret, while a data key (the KMS key's rotation and
 * revocation reach it through `Decrypt`) never lives in memory much longer than that.
 */
export const DEFAULT_DATA_KEY_CACHE: DataKeyCachePolicy = {
  encryptMaxAgeMs: 5 * 60_000,
  encryptMaxUses: 1000,
  decryptTtlMs: 5 * 60_000,
  decryptMaxEntries: 256,
};

/** Data keys for envelope encryption, with caching in front of the {@link KeyWrapper}. */
export interface DataKeys {
  readonly kind: KeyWrapper["kind"];
  /** A data key to encrypt with, and its wrapped form to store beside the ciphertext. */
  forEncryption(): Promise<DataKey>;
  /** The data key that `wrapped` wraps. */
  forDecryption(wrapped: Buffer): Promise<Buffer>;
}

interface EncryptionSlot {
  key: Promise<DataKey>;
  createdAt: number;
  uses: number;
}

/**
 * Reuses one generated data key for encryption for `encryptMaxAgeMs` or `encryptMaxUses`
 * encryptions, whichever ends first, and keeps unwrapped data keys by their wrapped bytes in a
 * bounded LRU for `decryptTtlMs`. Concurrent callers share one in-flight wrapper call; a failed
 * call is not cached. Keys are held in memory only and handed to no one but the cipher.
 */
export function createCachedDataKeys(
  wrapper: KeyWrapper,
  policy: Partial<DataKeyCachePolicy> = {},
  now: () => number = Date.now,
): DataKeys {
  const { encryptMaxAgeMs, encryptMaxUses, decryptTtlMs, decryptMaxEntries } = {
    ...DEFAULT_DATA_KEY_CACHE,
    ...policy,
  };
  let slot: EncryptionSlot | undefined;
  const unwrapped = new Map<string, { key: Promise<Buffer>; expiresAt: number }>();

  function remember(id: string, key: Promise<Buffer>): void {
    unwrapped.delete(id);
    unwrapped.set(id, { key, expiresAt: now() + decryptTtlMs });
    while (unwrapped.size > decryptMaxEntries) {
      const oldest = unwrapped.keys().next().value;
      if (oldest === undefined) break;
      unwrapped.delete(oldest);
    }
    // A failed unwrap is forgotten, so the next use asks again.
    key.catch(() => {
      if (unwrapped.get(id)?.key === key) unwrapped.delete(id);
    });
  }

  return {
    kind: wrapper.kind,

    forEncryption(): Promise<DataKey> {
      const at = now();
      if (!slot || slot.uses >= encryptMaxUses || at - slot.createdAt >= encryptMaxAgeMs) {
        const key = wrapper.generateDataKey();
        const fresh: EncryptionSlot = { key, createdAt: at, uses: 0 };
        slot = fresh;
        key.then(
          // What this key encrypts is usually read back soon (a registration, then the first bid).
          (dataKey) => remember(dataKey.wrapped.toString("base64"), Promise.resolve(dataKey.plaintext)),
          () => {
            if (slot === fresh) slot = undefined;
          },
        );
      }
      slot.uses += 1;
      return slot.key;
    },

    forDecryption(wrapped: Buffer): Promise<Buffer> {
      const id = wrapped.toString("base64");
      const cached = unwrapped.get(id);
      if (cached && cached.expiresAt > now()) {
        // Re-inserted as most recently used; its TTL still runs from when it was unwrapped.
        unwrapped.delete(id);
        unwrapped.set(id, cached);
        return cached.key;
      }
      const key = wrapper.unwrap(wrapped);
      remember(id, key);
      return key;
    },
  };
}
