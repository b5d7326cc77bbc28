import { join } from "node:path";
import { resolveDatabaseMigrationUrl, resolveDatabaseUrl } from "../../src/adapters/postgres/database-url.js";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { createSecretResolver } from "../../src/adapters/secrets.js";
import type { Config } from "../../src/config.js";
import { shareEmbeddedStore } from "../../src/local/embedded-governance.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";

/**
 * The governance store and what several governance builders share. Only builders of functions that
 * use Postgres import this module.
 */

/**
 * Opens the governance store: `pg` when DATABASE_URL (or its secret) is configured, else embedded
 * PGlite — persisted in `<AGENTFORGE_DATA_DIR>/pglite`, or in memory. On AWS a server is required:
 * PGlite in a Lambda's /tmp would lose the audit log with the container.
 */
export async function openGovernance(config: Config): Promise<GovernanceStore> {
  if (!config.auditKey) throw new Error("AUDIT_HMAC_KEY or AUDIT_HMAC_KEY_ARN must be configured");
  const auditKey = await createSecretResolver({
    name: "audit HMAC key",
    source: config.auditKey,
    region: config.region,
  })();
  if (!config.databaseUrl && !config.local) {
    throw new Error("DATABASE_URL or DATABASE_URL_SECRET_ARN must be configured outside the local stack");
  }
  const databaseUrl = await resolveDatabaseUrl(config);
  if (databaseUrl) {
    const migrationUrl = await resolveDatabaseMigrationUrl(config);
    return openGovernanceStore({
      auditKey,
      databaseUrl,
      ...(migrationUrl ? { migrationUrl } : {}),
      pool: config.databasePool,
    });
  }
  const dataDir = config.dataDir ? join(config.dataDir, "pglite") : undefined;
  return shareEmbeddedStore(dataDir ?? ":memory:", () =>
    openGovernanceStore({ auditKey, ...(dataDir ? { dataDir } : {}) }),
  );
}
