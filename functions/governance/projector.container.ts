import { type Config, loadConfig } from "../../src/config.js";
import {
  createGovernanceProjector,
  type GovernanceProjector,
} from "../../src/domain/governance/projector.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { createGovernanceStreamHandler } from "../../src/workers/governance-stream.js";

import { buildAuditAnchoring } from "../shared/anchoring.js";
import { openGovernance } from "../shared/governance.js";
import { buildRepositories } from "../shared/marketplace.js";
import { classifyGovernanceError, projectorFailures } from "../shared/replay.js";

/** The governance projector over an opened store (agents' profiles for trust, through the table). */
export function buildGovernanceProjector(
  config: Config,
  store: GovernanceStore,
  logger: Parameters<typeof createGovernanceProjector>[0]["logger"],
): GovernanceProjector {
  return createGovernanceProjector({ store, agents: buildRepositories(config).agents, logger });
}

/**
 * The governance projector on the table stream. The store is opened on the first batch, not at cold
 * start, and a failed open is retried by the next batch: while Postgres is down the stream waits (the
 * event source retries from the failed record) and bidding carries on.
 */
export function buildProjector(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "governance-projector" } });
  const open = lazily(async () => {
    const store = await openGovernance(config);
    return {
      projector: buildGovernanceProjector(config, store, logger),
      anchoring: buildAuditAnchoring(config, store),
    };
  });
  const projector: GovernanceProjector = {
    apply: async (event) => (await open()).projector.apply(event),
    skip: async (skipped) => (await open()).projector.skip(skipped),
  };
  const failures = projectorFailures(config);
  return {
    logger,
    handle: createGovernanceStreamHandler({
      projector,
      logger,
      metrics,
      // Records failing for a permanent reason are set aside there, so the stream moves on.
      ...(failures ? { failures } : {}),
      classify: classifyGovernanceError,
      // A signed checkpoint of the chain head after every batch that applied something (at most one
      // per AUDIT_ANCHOR_MIN_INTERVAL_SECONDS); a failure is logged and counted, never fails the batch.
      afterBatch: async () => {
        await (await open()).anchoring.anchor();
      },
    }),
  };
}

export const getProjector = lazily(() => buildProjector(loadConfig()));
