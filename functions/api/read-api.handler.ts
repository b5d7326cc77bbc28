import type { APIGatewayProxyHandlerV2 } from "aws-lambda";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import { loadConfig } from "../../src/config.js";
import { createReadApi } from "../../src/http/read-api.js";
import { createObservability } from "../../src/observability.js";
import { buildMarketplaceServices, lazily } from "../shared/services.js";

const { logger } = createObservability({ persistentKeys: { function: "read-api" } });
const api = lazily(() => {
  const config = loadConfig();
  const { agents, tasks, ledger } = buildMarketplaceServices(config);
  const apiToken = createSecretResolver({
    name: "API token",
    source: config.apiToken,
    region: config.region,
  });
  return createReadApi({ agents, tasks, ledger, apiToken, logger });
});

/** Bearer-token read API (tasks, ledger, agents). */
export const handler: APIGatewayProxyHandlerV2 = async (event, context) => {
  logger.addContext(context);
  return (await api())(event);
};
