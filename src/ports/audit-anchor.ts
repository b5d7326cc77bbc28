import type { AnchorAlgorithm, AuditAnchor } from "../domain/governance/audit-anchor.js";

export type { AnchorAlgorithm };

/**
 * Anchors of the audit chain outside its database (see domain/governance/audit-anchor.ts): a signer
 * that only the writers hold, a verifier that needs only the public key, and an append-only store.
 */

/** Signs anchors with a private key it never hands out (a key file locally, KMS on AWS). */
export interface AnchorSigner {
  /** Stable id of the key, written into every anchor (a fingerprint locally, the key ARN on AWS). */
  readonly keyId: string;
  readonly algorithm: AnchorAlgorithm;
  /** The signature of `bytes` (raw Ed25519, or a DER-encoded ECDSA signature). */
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}

/** Checks anchor signatures with the public key of one signer. */
export interface AnchorVerifier {
  /** The key id an anchor must name; resolved on first use on AWS (GetPublicKey). */
  keyId(): Promise<string>;
  readonly algorithm: AnchorAlgorithm;
  /** The public key, PEM (SPKI). */
  publicKeyPem(): Promise<string>;
  /** Whether `signature` is the signer's signature of `bytes`. Never throws for a bad signature. */
  verify(bytes: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

/** Thrown by {@link AnchorStore.put} when an anchor with that name exists already: nothing was written. */
export class AnchorExistsError extends Error {
  constructor(readonly anchorName: string) {
    super(`The audit anchor ${anchorName} exists already: anchors are never overwritten`);
    this.name = "AnchorExistsError";
  }
}

/** An append-only place for anchors: a folder of read-only files locally, an Object Lock bucket on AWS. */
export interface AnchorStore {
  /** Where anchors live, for messages (a directory, `s3://bucket/anchors/`, `memory`). */
  readonly location: string;
  /** Writes a new anchor; throws {@link AnchorExistsError} rather than overwrite one. */
  put(anchor: AuditAnchor): Promise<void>;
  /** The newest anchor (highest seq, then latest anchored_at), or undefined when none was written. */
  latest(): Promise<AuditAnchor | undefined>;
}
