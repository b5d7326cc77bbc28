import { type Config, loadConfig } from "../../src/config.js";
import { createEscrowTimeoutSweeper } from "../../src/domain/governance/escrow-timeout.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { openGovernance } from "../shared/governance.js";

/** The escrow timeout sweeper: Postgres alone, no table and no queue. */
export function buildEscrowSweeper(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "escrow-sweeper" } });
  const open = lazily(async () => {
    const store = await openGovernance(config);
    return {
      store,
      escrows: createEscrowTimeoutSweeper({ store, timeoutMs: config.escrowTimeoutMs, logger }),
    };
  });
  return {
    logger,
    refundExpiredEscrows: async () => (await open()).escrows.refundExpired(),
    close: async () => (await open()).store.close(),
  };
}

export const getEscrowSweeper = lazily(() => buildEscrowSweeper(loadConfig()));
