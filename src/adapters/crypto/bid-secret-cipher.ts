import { KMSClient } from "@aws-sdk/client-kms";
import type { BidSecretKeySource } from "../../config.js";
import { createCachedDataKeys, type DataKeyCachePolicy } from "./data-key-cache.js";
import { BID_SECRET_ENCRYPTION_CONTEXT } from "./encryption-context.js";
import type { KeyWrapper } from "./key-wrapper.js";
import { createKmsKeyWrapper, type KmsClientLike } from "./kms-key-wrapper.js";
import { createLocalKeyWrapper, processEphemeralKey, readLocalKeyFile } from "./local-key-wrapper.js";
import { createSecretEnvelope, type SecretCipher } from "./secret-envelope.js";

export interface BidSecretCipherOptions {
  /** Where the key-encryption key is; unset is allowed in local mode only (a per-process key). */
  source?: BidSecretKeySource;
  /** Local mode: KMS is refused (nothing local may reach AWS) and a missing key means memory. */
  local: boolean;
  region?: string;
  /** A KMS client to use instead of a new one (tests). */
  kms?: KmsClientLike;
  cache?: Partial<DataKeyCachePolicy>;
}

/** The key wrapper the configuration names. Throws one sentence when it names none or a bad one. */
export function bidSecretKeyWrapper({ source, local, region, kms }: BidSecretCipherOptions): KeyWrapper {
  if (source && "kmsKeyId" in source) {
    if (local) {
      throw new Error("BID_SECRET_KMS_KEY_ID is set in local mode: the local stack uses BID_SECRET_KEY_FILE");
    }
    return createKmsKeyWrapper({
      client: kms ?? new KMSClient(region ? { region } : {}),
      keyId: source.kmsKeyId,
      encryptionContext: { ...BID_SECRET_ENCRYPTION_CONTEXT },
    });
  }
  if (source) return createLocalKeyWrapper({ key: readLocalKeyFile(source.file) });
  // A serious deployment never falls back to a key it would lose: outside local mode, refuse.
  if (!local) {
    throw new Error(
      "BID_SECRET_KMS_KEY_ID must be configured: agents' bid secrets are stored encrypted with that KMS key",
    );
  }
  return createLocalKeyWrapper({ key: processEphemeralKey() });
}

/** Envelope encryption of bid secrets with cached data keys over the configured key wrapper. */
export function createBidSecretCipher(options: BidSecretCipherOptions): SecretCipher {
  return createSecretEnvelope({ keys: createCachedDataKeys(bidSecretKeyWrapper(options), options.cache) });
}

/**
 * A cipher built on first use: functions that never touch secrets (intake, projector) need no key,
 * while those that do build it at cold start (see the composition root) and fail loudly there.
 */
export function deferredCipher(build: () => SecretCipher): SecretCipher {
  let cipher: SecretCipher | undefined;
  const get = () => {
    cipher ??= build();
    return cipher;
  };
  return {
    seal: (owner, plaintext) => Promise.resolve().then(() => get().seal(owner, plaintext)),
    open: (owner, sealed) => Promise.resolve().then(() => get().open(owner, sealed)),
  };
}

const shared = new WeakMap<object, SecretCipher>();

/**
 * One cipher per configuration object, so every repository a container builds shares the data-key
 * caches (a bid worker's verifications and its award's signatures hit the same cache).
 */
export function sharedBidSecretCipher(config: {
  bidSecretKey?: BidSecretKeySource;
  local: boolean;
  region: string;
}): SecretCipher {
  let cipher = shared.get(config);
  if (!cipher) {
    cipher = createBidSecretCipher({
      ...(config.bidSecretKey ? { source: config.bidSecretKey } : {}),
      local: config.local,
      region: config.region,
    });
    shared.set(config, cipher);
  }
  return cipher;
}
