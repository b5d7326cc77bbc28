import type { Config, SecretSource } from "../../config.js";
import { createSecretResolver } from "../secrets.js";

/**
 * A `DATABASE_URL` secret is either the URL itself or the JSON an RDS-managed secret holds
 * (`username`, `password`, `host`, `port`, `dbname`).
 */
export function databaseUrlFromSecret(value: string): string {
  const trimmed = value.trim();
  if (!trimmed.startsWith("{")) return trimmed;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(trimmed) as Record<string, unknown>;
  } catch {
    throw new Error("The DATABASE_URL secret looks like JSON but does not parse");
  }
  const { username, password, host, port, dbname } = parsed;
  if (typeof username !== "string" || typeof password !== "string" || typeof host !== "string") {
    throw new Error("The DATABASE_URL secret JSON needs username, password and host");
  }
  // Built as text: the WHATWG URL setters leave '%' unencoded, which would corrupt such a password.
  const portPart = port === undefined ? "" : `:${encodeURIComponent(String(port))}`;
  const database = encodeURIComponent(typeof dbname === "string" ? dbname : "postgres");
  return `postgres://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${host}${portPart}/${database}?sslmode=require`;
}

async function resolveUrl(name: string, source: SecretSource, region: string): Promise<string> {
  return databaseUrlFromSecret(await createSecretResolver({ name, source, region })());
}

/** The app connection (DATABASE_URL or its secret), or undefined when none is configured. */
export async function resolveDatabaseUrl(config: Config): Promise<string | undefined> {
  return config.databaseUrl ? resolveUrl("DATABASE_URL", config.databaseUrl, config.region) : undefined;
}

/**
 * The owner connection for migrations (DATABASE_MIGRATION_URL or its secret, a URL or an RDS
 * secret's JSON), or undefined in a single-role setup.
 */
export async function resolveDatabaseMigrationUrl(config: Config): Promise<string | undefined> {
  return config.databaseMigrationUrl
    ? resolveUrl("DATABASE_MIGRATION_URL", config.databaseMigrationUrl, config.region)
    : undefined;
}
