import { createPublicKey, type KeyObject } from "node:crypto";
import { join } from "node:path";
import type { AnchorSigner, AnchorStore, AnchorVerifier } from "../../ports/audit-anchor.js";
import {
  ANCHOR_KEY_FILE,
  ANCHOR_PUBLIC_KEY_FILE,
  createEd25519Signer,
  createEd25519Verifier,
  loadOrCreateAnchorKey,
  processEphemeralAnchorKey,
} from "./ed25519-anchor-key.js";
import { ANCHOR_DIR, createFolderAnchorStore } from "./folder-anchor-store.js";
import { memoryAnchorStore } from "./memory-anchors.js";

export { forgetMemoryAnchors } from "./memory-anchors.js";

/**
 * Which anchor key and store a configuration means:
 * - AWS: `kmsKeyId` (an asymmetric KMS key) and `bucket` (the Object Lock bucket); the KMS and S3
 *   clients are imported only then, so local runs and functions that never anchor do not load them.
 * - locally with a data directory: the Ed25519 key file `<dataDir>/audit-anchor-key.pem` (created on
 *   first use) and the folder `<dataDir>/audit-anchors/`;
 * - locally without one (`--in-memory`): a key pair and anchors in this process's memory, one anchor
 *   store per in-memory database (see {@link forgetMemoryAnchors}).
 * Outside local mode the AWS pair is required.
 */
export interface AuditAnchorSource {
  kmsKeyId?: string;
  bucket?: string;
  dataDir?: string;
  local: boolean;
  region?: string;
  /** Names the database the anchors belong to when they are kept in memory. */
  memoryKey?: string;
}

function refuseMixed(source: AuditAnchorSource): void {
  if (source.local && (source.kmsKeyId || source.bucket)) {
    throw new Error(
      "AUDIT_ANCHOR_KMS_KEY_ID / AUDIT_ANCHOR_BUCKET are set in local mode: the local stack anchors to <data dir>/audit-anchors",
    );
  }
}

const localKeys = new Map<string, KeyObject>();

function localKey(dataDir: string | undefined): KeyObject {
  if (!dataDir) return processEphemeralAnchorKey();
  const path = join(dataDir, ANCHOR_KEY_FILE);
  let key = localKeys.get(path);
  if (!key) {
    key = loadOrCreateAnchorKey(path, join(dataDir, ANCHOR_PUBLIC_KEY_FILE));
    localKeys.set(path, key);
  }
  return key;
}

/** The anchor signer (writers only): built on first call. */
export async function openAnchorSigner(source: AuditAnchorSource): Promise<AnchorSigner> {
  refuseMixed(source);
  if (source.kmsKeyId) {
    const { createKmsAnchorSigner } = await import("./kms-anchor-key.js");
    return createKmsAnchorSigner({
      keyId: source.kmsKeyId,
      ...(source.region ? { region: source.region } : {}),
    });
  }
  if (!source.local) {
    throw new Error("AUDIT_ANCHOR_KMS_KEY_ID must be configured: audit anchors are signed with that KMS key");
  }
  return createEd25519Signer(localKey(source.dataDir));
}

/** The anchor verifier: the public key of the configured signer. */
export async function openAnchorVerifier(source: AuditAnchorSource): Promise<AnchorVerifier> {
  refuseMixed(source);
  if (source.kmsKeyId) {
    const { createKmsAnchorVerifier } = await import("./kms-anchor-key.js");
    return createKmsAnchorVerifier({
      keyId: source.kmsKeyId,
      ...(source.region ? { region: source.region } : {}),
    });
  }
  if (!source.local) {
    throw new Error(
      "AUDIT_ANCHOR_KMS_KEY_ID must be configured: audit anchors are verified with that KMS key's public key",
    );
  }
  return createEd25519Verifier(createPublicKey(localKey(source.dataDir)));
}

/** The anchor store. */
export async function openAnchorStore(source: AuditAnchorSource): Promise<AnchorStore> {
  refuseMixed(source);
  if (source.bucket) {
    const { createS3AnchorStore } = await import("./s3-anchor-store.js");
    return createS3AnchorStore({
      bucket: source.bucket,
      ...(source.region ? { region: source.region } : {}),
    });
  }
  if (!source.local) {
    throw new Error("AUDIT_ANCHOR_BUCKET must be configured: audit anchors are kept in that S3 bucket");
  }
  if (source.dataDir) return createFolderAnchorStore(join(source.dataDir, ANCHOR_DIR));
  return memoryAnchorStore(source.memoryKey ?? ":memory:");
}
