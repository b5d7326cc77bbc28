import { createEndpointProber } from "../../src/adapters/endpoints/endpoint-prober.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createHealthService } from "../../src/domain/governance/health.service.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";

import { openGovernance } from "../shared/governance.js";
import { buildRepositories } from "../shared/marketplace.js";
import { sqsClient, sqsClientForRegion } from "../shared/sqs.js";

/** The scheduled health probes: every agent's endpoint, recorded in governance, trust on the profile. */
export function buildHealthProber(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "health-prober" } });
  // One prober and its SQS clients for the container's life, not one per probe.
  const prober = createEndpointProber({
    allowLoopback: config.local,
    sqsClient: sqsClient(config),
    ...(() => {
      const forRegion = sqsClientForRegion(config);
      return forRegion ? { sqsClientFor: forRegion } : {};
    })(),
  });
  const open = lazily(async () => {
    const store = await openGovernance(config);
    return {
      store,
      health: createHealthService({ store, agents: buildRepositories(config).agents, logger, prober }),
    };
  });
  return {
    logger,
    probeHealth: async (hasTime?: () => boolean) =>
      (await open()).health.probeAll(hasTime ? { hasTime } : {}),
    close: async () => (await open()).store.close(),
  };
}

export const getHealthProber = lazily(() => buildHealthProber(loadConfig()));
