import { join } from "node:path";
import {
  type AuditAnchorSource,
  openAnchorSigner,
  openAnchorStore,
  openAnchorVerifier,
} from "../../src/adapters/anchors/open-audit-anchors.js";
import type { Config } from "../../src/config.js";
import { createAuditAnchoring } from "../../src/domain/governance/audit-anchoring.js";
import { lazily } from "../../src/lib/lazy.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";

/** Audit anchors: only the functions that write or verify them import this (S3 and KMS clients). */

/**
 * Where this configuration's audit anchors are (see src/adapters/anchors/open-audit-anchors.ts). In
 * memory they belong to one database: the in-memory PGlite, or the configured server.
 */
export function auditAnchorSource(config: Config): AuditAnchorSource {
  return {
    ...config.auditAnchor,
    ...(config.dataDir ? { dataDir: config.dataDir } : {}),
    local: config.local,
    region: config.region,
    memoryKey: config.databaseUrl ? `server:${JSON.stringify(config.databaseUrl)}` : ":memory:",
  };
}

/** Anchoring and anchored verification of the audit chain over one store; key and bucket opened on first use. */
export function buildAuditAnchoring(config: Config, store: GovernanceStore) {
  const source = auditAnchorSource(config);
  const anchors = lazily(() => openAnchorStore(source));
  return createAuditAnchoring({
    store,
    anchors: {
      location: source.bucket
        ? `s3://${source.bucket}/anchors/`
        : source.dataDir
          ? join(source.dataDir, "audit-anchors")
          : "memory",
      put: async (anchor) => (await anchors()).put(anchor),
      latest: async () => (await anchors()).latest(),
    },
    signer: lazily(() => openAnchorSigner(source)),
    verifier: lazily(() => openAnchorVerifier(source)),
    minIntervalMs: config.auditAnchor.minIntervalSeconds * 1000,
  });
}
