import { createHash } from "node:crypto";

/**
 * Deterministic identifiers, so that projecting the same marketplace fact twice (a redelivered or
 * replayed stream record) finds the row it created the first time.
 */

/** A name-based UUID (version 5 layout over SHA-256 rather than SHA-1) for the escrow of an award. */
export function escrowIdFor(taskId: string, agentId: string): string {
  const hash = createHash("sha256").update(`escrow\n${taskId}\n${agentId}`).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** `apr_` + 24 hex characters, from the award that needs approval. */
export function approvalIdFor(taskId: string, agentId: string, awardedAt: string): string {
  const hash = createHash("sha256").update(`approval\n${taskId}\n${agentId}\n${awardedAt}`).digest("hex");
  return `apr_${hash.slice(0, 24)}`;
}
