import { type Config, loadConfig } from "../../src/config.js";
import type { AuditVerifyMode } from "../../src/domain/governance/audit-anchoring.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { buildAuditAnchoring } from "../shared/anchoring.js";
import { openGovernance } from "../shared/governance.js";

/** The scheduled audit chain verification (also `npm run audit:verify`): Postgres and the anchors. */
export function buildAuditVerifier(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "audit-verify" } });
  const open = lazily(async () => {
    const store = await openGovernance(config);
    return { store, anchoring: buildAuditAnchoring(config, store) };
  });
  return {
    logger,
    /**
     * The whole chain from seq 1 without a time budget, checked against the newest anchor
     * (`incremental`: only from that anchor on); an intact chain is then anchored, as a writer.
     */
    verifyAudit: async (mode: Extract<AuditVerifyMode, "full" | "incremental"> = "full") => {
      const { anchoring } = await open();
      const result = await anchoring.verify({ mode });
      if (result.ok && result.complete) {
        // The verdict stands either way; a failed anchor is an error for the alarm, not a failed walk.
        await anchoring
          .anchor()
          .catch((error: unknown) => logger.error("Audit anchor not written", { error }));
      }
      return result;
    },
    /** Closes the store (for one-shot commands; a Lambda keeps it for the container's life). */
    close: async () => (await open()).store.close(),
  };
}

export const getAuditVerifier = lazily(() => buildAuditVerifier(loadConfig()));
