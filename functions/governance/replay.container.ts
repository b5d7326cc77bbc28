import { type Config, loadConfig } from "../../src/config.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";

import { openGovernance } from "../shared/governance.js";
import { buildReplayService } from "../shared/replay.js";
import { buildGovernanceProjector } from "./projector.container.js";

/** The on-demand replay function: the projector's failed records, once their cause is fixed. */
export function buildGovernanceReplay(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "governance-replay" } });
  const open = lazily(async () => {
    const store = await openGovernance(config);
    const replay = await buildReplayService(
      config,
      { store, projector: buildGovernanceProjector(config, store, logger) },
      logger,
    );
    if (!replay) throw new Error("PROJECTOR_FAILURES_QUEUE_URL is not configured");
    return replay;
  });
  return { logger, replay: async (input: { actor: string; limit?: number }) => (await open()).replay(input) };
}

export const getGovernanceReplay = lazily(() => buildGovernanceReplay(loadConfig()));
