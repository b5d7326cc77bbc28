import { type Config, loadConfig } from "../../src/config.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { createAwardSweeper } from "../../src/workers/award-sweeper.js";
import { buildAwardService } from "../shared/marketplace.js";

/** The every-minute award sweeper: tasks whose bid window has closed. */
export function buildAwardSweeper(config: Config) {
  const { logger, metrics } = createObservability({ persistentKeys: { function: "award-sweeper" } });
  const awards = buildAwardService(config, logger);
  return { logger, sweep: createAwardSweeper({ awards, logger, metrics }) };
}

export const getAwardSweeper = lazily(() => buildAwardSweeper(loadConfig()));
