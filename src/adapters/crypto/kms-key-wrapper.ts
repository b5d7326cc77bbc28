import {
  DecryptCommand,
  type DecryptCommandOutput,
  GenerateDataKeyCommand,
  type GenerateDataKeyCommandOutput,
} from "@aws-sdk/client-kms";
import type { DataKey, KeyWrapper } from "./key-wrapper.js";

/** The part of the SDK's `KMSClient` used here, so tests can stand in for it (there is no KMS emulator). */
export interface KmsClientLike {
  send(command: GenerateDataKeyCommand): Promise<GenerateDataKeyCommandOutput>;
  send(command: DecryptCommand): Promise<DecryptCommandOutput>;
}

export interface KmsKeyWrapperOptions {
  client: KmsClientLike;
  /** Key id, key ARN or alias of the symmetric KMS key. */
  keyId: string;
  /**
   * Bound to every data key: KMS refuses to decrypt without the same context, and IAM policies can
   * require it (`kms:EncryptionContext:purpose`), so the functions' grants cover this use only.
   */
  encryptionContext: Record<string, string>;
}

const DATA_KEY_BYTES = 32;

/**
 * {@link KeyWrapper} on AWS KMS: `GenerateDataKey` (AES_256) for new data keys, `Decrypt` to unwrap.
 * The key id is passed to `Decrypt` too, so a wrapped key from any other KMS key is refused.
 */
export function createKmsKeyWrapper({ client, keyId, encryptionContext }: KmsKeyWrapperOptions): KeyWrapper {
  return {
    kind: "kms",
    async generateDataKey(): Promise<DataKey> {
      const out = await client.send(
        new GenerateDataKeyCommand({
          KeyId: keyId,
          KeySpec: "AES_256",
          EncryptionContext: encryptionContext,
        }),
      );
      if (out.Plaintext?.length !== DATA_KEY_BYTES || !out.CiphertextBlob?.length) {
        throw new Error(`KMS GenerateDataKey on ${keyId} returned no AES-256 data key`);
      }
      return { plaintext: Buffer.from(out.Plaintext), wrapped: Buffer.from(out.CiphertextBlob) };
    },
    async unwrap(wrapped: Buffer): Promise<Buffer> {
      const out = await client.send(
        new DecryptCommand({ CiphertextBlob: wrapped, KeyId: keyId, EncryptionContext: encryptionContext }),
      );
      if (out.Plaintext?.length !== DATA_KEY_BYTES) {
        throw new Error(`KMS Decrypt on ${keyId} returned no AES-256 data key`);
      }
      return Buffer.from(out.Plaintext);
    },
  };
}
