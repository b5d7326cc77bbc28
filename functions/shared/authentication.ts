import type { Logger } from "@aws-lambda-powertools/logger";
import { createApiKeyReader } from "../../src/adapters/dynamo/api-key-reader.js";
import { createOperatorCredentials } from "../../src/adapters/operator-credentials.js";
import type { Config } from "../../src/config.js";
import { createAuthenticator } from "../../src/domain/identity/authenticator.js";
import { createObservability } from "../../src/observability.js";
import type { StoredApiKey } from "../../src/ports/agent-repository.js";
import { dynamoClient } from "./dynamo.js";

export interface AuthenticatorDeps {
  /** Where agent API keys are read; defaults to one plain `GetItem` per key (no ElectroDB). */
  apiKeys?: { getApiKey(keyId: string): Promise<StoredApiKey | undefined> };
  logger?: Logger;
}

/**
 * Resolves bearer tokens to principals: operators from `AGENTFORGE_API_TOKEN` (the default operator)
 * and the named operators' secret or file, agents by their API key items in the table. Kept apart
 * from the composition root so the gateway authorizer, which runs before every REST request, bundles
 * only this.
 */
export function buildAuthenticator(config: Config, deps: AuthenticatorDeps = {}) {
  if (!config.apiToken && !config.operators) {
    throw new Error(
      "AGENTFORGE_API_TOKEN(_ARN) or AGENTFORGE_OPERATORS(_ARN/_FILE) must be configured: no operator could sign in",
    );
  }
  const logger = deps.logger ?? createObservability({ persistentKeys: { function: "authenticator" } }).logger;
  const apiKeys =
    deps.apiKeys ?? createApiKeyReader({ client: dynamoClient(config), table: config.tableName });
  const operators = createOperatorCredentials({
    ...(config.apiToken ? { defaultToken: config.apiToken } : {}),
    ...(config.operators ? { operators: config.operators } : {}),
    // A local operators file is re-read within a second of an edit; secrets within a minute of a rotation.
    ttlMs: config.operators && "file" in config.operators ? 1000 : 60_000,
    region: config.region,
    // Named operators are refused until it is fixed; the default operator and agents keep working.
    onInvalidDocument: (error) =>
      logger.error("Named operators refused: their credentials document is invalid", { error }),
  });
  return { authenticate: createAuthenticator({ operators, apiKeys }), logger };
}
