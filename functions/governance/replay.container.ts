import { type Config, loadConfig } from "../../src/config.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createCore } from "../shared/core.js";
import { buildReplayService, openGovernance } from "../shared/governance.js";
import { buildGovernanceProjector } from "./projector.container.js";

/** The on-demand replay function: the projector's failed records, once their cause is fixed. */
export function buildGovernanceReplay(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "governance-replay" } });
  const core = createCore(config);
  const open = lazily(async () => {
    const store = await openGovernance(config);
    const replay = await buildReplayService(
      core,
      { store, projector: buildGovernanceProjector(core, store, logger) },
      logger,
    );
    if (!replay) throw new Error("PROJECTOR_FAILURES_QUEUE_URL is not configured");
    return replay;
  });
  return { logger, replay: async (input: { actor: string; limit?: number }) => (await open()).replay(input) };
}

export const getGovernanceReplay = lazily(() => buildGovernanceReplay(loadConfig()));
