import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { type Config, loadConfig } from "../../src/config.js";
import { createLedgerService } from "../../src/domain/ledger/ledger.service.js";
import { createTaskService } from "../../src/domain/tasks/task.service.js";
import { createRestApi } from "../../src/http/rest-api.js";
import { lazily } from "../../src/lib/lazy.js";
import { createObservability } from "../../src/observability.js";
import { buildAuthenticator } from "../shared/authentication.js";

import { buildAgentService, buildRepositories, requireBidSecretKey } from "../shared/marketplace.js";

/** The REST API for operators and agents over the marketplace services; governance on first use. */
export function buildRestApi(config: Config) {
  const { logger } = createObservability({ persistentKeys: { function: "rest-api" } });
  requireBidSecretKey(config);
  const repositories = buildRepositories(config);
  const governance = lazily(async () => {
    const { openRestGovernance } = await import("./rest-governance.js");
    return openRestGovernance(config, repositories, logger);
  });
  const handle: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2> = createRestApi(
    {
      agents: buildAgentService(config, repositories),
      tasks: createTaskService({ tasks: repositories.tasks }),
      ledger: createLedgerService({ tasks: repositories.tasks }),
      authenticate: buildAuthenticator(config, { apiKeys: repositories.agents, logger }).authenticate,
      logger,
      governance,
    },
  );
  return { logger, handle };
}

export const getRestApi = lazily(() => buildRestApi(loadConfig()));
