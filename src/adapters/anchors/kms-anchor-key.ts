import { createPublicKey, verify } from "node:crypto";
import {
  GetPublicKeyCommand,
  type GetPublicKeyCommandOutput,
  KMSClient,
  SignCommand,
  type SignCommandOutput,
} from "@aws-sdk/client-kms";
import type { AnchorSigner, AnchorVerifier } from "../../ports/audit-anchor.js";

/**
 * The anchor key on AWS: an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY). Writers call `kms:Sign`
 * only; verifiers call `kms:GetPublicKey` once per container and check signatures locally, so they
 * never need Sign and the private key never leaves KMS. Loaded only on AWS (a dynamic import from
 * open-audit-anchors.ts), so the local stack never loads the KMS client for it.
 */

/** The part of the SDK's `KMSClient` used here, so tests can stand in for it (there is no KMS emulator). */
export interface KmsSignClientLike {
  send(command: SignCommand): Promise<SignCommandOutput>;
  send(command: GetPublicKeyCommand): Promise<GetPublicKeyCommandOutput>;
}

export interface KmsAnchorKeyOptions {
  /** The key ARN (written into every anchor as `key_id`; an alias would hide a rotation). */
  keyId: string;
  client?: KmsSignClientLike;
  region?: string;
}

const clientFor = (options: KmsAnchorKeyOptions): KmsSignClientLike =>
  options.client ?? (new KMSClient(options.region ? { region: options.region } : {}) as KmsSignClientLike);

/** `Sign` with ECDSA_SHA_256 over the raw message (KMS hashes it): a DER-encoded signature. */
export function createKmsAnchorSigner(options: KmsAnchorKeyOptions): AnchorSigner {
  const client = clientFor(options);
  return {
    keyId: options.keyId,
    algorithm: "ECDSA_SHA_256",
    async sign(bytes) {
      const out = await client.send(
        new SignCommand({
          KeyId: options.keyId,
          Message: bytes,
          MessageType: "RAW",
          SigningAlgorithm: "ECDSA_SHA_256",
        }),
      );
      if (!out.Signature?.length) throw new Error(`KMS Sign on ${options.keyId} returned no signature`);
      return out.Signature;
    },
  };
}

/**
 * Verifies with the public key from one `GetPublicKey` (cached; a failed fetch is retried on the next
 * call). Refuses a key that is not an ECC_NIST_P256 signing key offering ECDSA_SHA_256.
 */
export function createKmsAnchorVerifier(options: KmsAnchorKeyOptions): AnchorVerifier {
  const client = clientFor(options);
  let publicKey: Promise<{ pem: string; key: ReturnType<typeof createPublicKey> }> | undefined;
  const fetchKey = () => {
    publicKey ??= (async () => {
      const out = await client.send(new GetPublicKeyCommand({ KeyId: options.keyId }));
      if (
        !out.PublicKey?.length ||
        out.KeyUsage !== "SIGN_VERIFY" ||
        out.KeySpec !== "ECC_NIST_P256" ||
        !out.SigningAlgorithms?.includes("ECDSA_SHA_256")
      ) {
        throw new Error(
          `The KMS key ${options.keyId} is not an ECC_NIST_P256 SIGN_VERIFY key with ECDSA_SHA_256 (${out.KeySpec} ${out.KeyUsage})`,
        );
      }
      const key = createPublicKey({ key: Buffer.from(out.PublicKey), format: "der", type: "spki" });
      return { key, pem: key.export({ type: "spki", format: "pem" }).toString() };
    })().catch((error: unknown) => {
      publicKey = undefined;
      throw error;
    });
    return publicKey;
  };
  return {
    keyId: async () => options.keyId,
    algorithm: "ECDSA_SHA_256",
    publicKeyPem: async () => (await fetchKey()).pem,
    async verify(bytes, signature) {
      const { key } = await fetchKey();
      try {
        return verify("sha256", bytes, { key, dsaEncoding: "der" }, signature);
      } catch {
        return false;
      }
    },
  };
}
