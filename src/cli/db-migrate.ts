import { resolveDatabaseMigrationUrl, resolveDatabaseUrl } from "../adapters/postgres/database-url.js";
import { APP_ROLE } from "../adapters/postgres/migrations.js";
import { migrateAsOwner } from "../adapters/postgres/open-governance-store.js";
import { loadConfig } from "../config.js";

/**
 * `npm run db:migrate`: applies the governance migrations to the PostgreSQL server through the owner
 * connection, DATABASE_MIGRATION_URL (or DATABASE_MIGRATION_URL_SECRET_ARN). The migrations create
 * the NOLOGIN role agentforge_app if it is missing and grant it what the app needs; the app's login
 * user (DATABASE_URL) is a member of it. Without a migration URL it migrates through DATABASE_URL
 * (the single-role setup). Prints what it applied. Exit code 0 on success, 1 on failure.
 */
try {
  if (process.argv.length > 2) throw new Error(`unknown argument ${process.argv[2]} (it takes none)`);
  const config = loadConfig();
  let url = await resolveDatabaseMigrationUrl(config);
  if (!url) {
    url = await resolveDatabaseUrl(config);
    if (url)
      console.error(
        "db migrate: DATABASE_MIGRATION_URL is not set, so DATABASE_URL migrates (one role, weaker)",
      );
  }
  if (!url) {
    throw new Error(
      "set DATABASE_MIGRATION_URL (or DATABASE_MIGRATION_URL_SECRET_ARN) to the owner role's URL",
    );
  }
  const applied = await migrateAsOwner(url);
  console.log(
    applied.length > 0 ? `applied ${applied.join(", ")}` : "the governance schema is up to date",
    `(app role: ${APP_ROLE})`,
  );
} catch (error) {
  console.error(`db migrate: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
