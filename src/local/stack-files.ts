import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as z from "zod";

/**
 * The files a local stack keeps in its data directory, and the only code that reads or writes them:
 * `npm start` writes them, the ops CLI and the demo read them.
 *
 * ```
 * <data dir>/endpoints.json   where the running stack listens (rewritten at every start)
 * <data dir>/secrets.json     development secrets (generated once, mode 0600)
 * <data dir>/operators.json   named operators' tokens (optional, yours to write)
 * <data dir>/dynamodb/        DynamoDB Local's database file (not with --in-memory)
 * <data dir>/pglite/          the governance database (not with --in-memory or DATABASE_URL)
 * <data dir>/checkpoints/     stream consumers' positions (not with --in-memory)
 * ```
 */

/** Relative to the working directory, like `.git`. */
export const DEFAULT_DATA_DIR = ".agentforge";

export const ENDPOINTS_FILE = "endpoints.json";
export const SECRETS_FILE = "secrets.json";
/** Named operators' tokens, `{ "<name>": "<token>" }` (optional; written by the operator, mode 0600). */
export const OPERATORS_FILE = "operators.json";
/**
 * The 32-byte key that encrypts agents' bid secrets in the local table (KMS's stand-in; mode 0600,
 * created on first start). Losing it makes every stored bid secret unreadable.
 */
export const BID_SECRET_KEY_FILE = "bid-secret.key";

/** A data directory's problem that the user can fix: one line saying what is wrong and what to do. */
export class LocalStackError extends Error {
  override name = "LocalStackError";
}

/** The absolute data directory: `AGENTFORGE_DATA_DIR` or `.agentforge/` under the working directory. */
export function resolveDataDir(env: Record<string, string | undefined> = process.env): string {
  const configured = env.AGENTFORGE_DATA_DIR?.trim();
  return resolve(configured ? configured : DEFAULT_DATA_DIR);
}

const endpointsSchema = z.object({
  /** Base URL of the HTTP API (webhook and REST routes), no trailing slash. */
  api_url: z.string().url(),
  dynamodb_endpoint: z.string().url(),
  sqs_endpoint: z.string().url(),
  table_name: z.string().min(1),
  /** Where agents send BID / DECLINE / COST_REPORT. */
  bids_queue_url: z.string().url(),
  intake_queue_url: z.string().url(),
  dispatch_queue_url: z.string().url(),
  region: z.string().min(1),
  data_dir: z.string().min(1),
  in_memory: z.boolean(),
  /** Process id of `npm start`'s Node process. */
  pid: z.number().int().positive(),
  started_at: z.string(),
});

export type LocalEndpoints = z.infer<typeof endpointsSchema>;

const secretsSchema = z.object({
  github_webhook_secret: z.string().min(1),
  api_token: z.string().min(1),
  audit_hmac_key: z.string().min(32),
});

export type LocalSecrets = z.infer<typeof secretsSchema>;

function readJsonFile<T>(path: string, schema: z.ZodType<T>, what: string, fix: string): T {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new LocalStackError(`${what} not found at ${path}: ${fix}`);
    }
    throw new LocalStackError(`${what} at ${path} cannot be read (${(error as Error).message}): ${fix}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new LocalStackError(`${what} at ${path} is not valid JSON: ${fix}`);
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new LocalStackError(
      `${what} at ${path} is malformed (${first ? `${first.path.join(".")}: ${first.message}` : "invalid"}): ${fix}`,
    );
  }
  return result.data;
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
function writeJsonFile(path: string, value: unknown, mode?: number): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`, mode !== undefined ? { mode } : {});
  if (mode !== undefined) chmodSync(temporary, mode);
  renameSync(temporary, path);
}

/** The running stack's endpoints; a clear error when no stack has written them. */
export function readEndpoints(dataDir: string): LocalEndpoints {
  return readJsonFile(
    join(dataDir, ENDPOINTS_FILE),
    endpointsSchema,
    "The local stack's endpoints file",
    "start the stack with `npm start` (or set AGENTFORGE_DATA_DIR to the directory it uses)",
  );
}

export function writeEndpoints(dataDir: string, endpoints: LocalEndpoints): void {
  writeJsonFile(join(dataDir, ENDPOINTS_FILE), endpointsSchema.parse(endpoints));
}

/** The development secrets of the stack in `dataDir`. */
export function readSecrets(dataDir: string): LocalSecrets {
  return readJsonFile(
    join(dataDir, SECRETS_FILE),
    secretsSchema,
    "The local stack's secrets file",
    "start the stack once with `npm start`, which generates it, or delete the file to have it generated again",
  );
}

/** Secrets given in the environment; anything missing is generated. */
export interface SecretOverrides {
  GITHUB_WEBHOOK_SECRET?: string | undefined;
  AGENTFORGE_API_TOKEN?: string | undefined;
  AUDIT_HMAC_KEY?: string | undefined;
}

/**
 * The secrets the stack runs with: values from the environment win, then those saved in
 * `secrets.json`, and anything still missing gets a random development value. The result is saved
 * (mode 0600) so the CLI, the demo and the next start use the same values. `generated` names the
 * secrets created now, which the caller prints once.
 */
export function loadOrCreateSecrets(
  dataDir: string,
  overrides: SecretOverrides,
): { secrets: LocalSecrets; generated: Array<keyof LocalSecrets> } {
  const path = join(dataDir, SECRETS_FILE);
  const saved: Partial<LocalSecrets> = existsSync(path)
    ? readJsonFile(
        path,
        secretsSchema.partial(),
        "The local stack's secrets file",
        `delete ${path} to have new development secrets generated`,
      )
    : {};
  if (overrides.AUDIT_HMAC_KEY !== undefined && overrides.AUDIT_HMAC_KEY.length < 32) {
    throw new LocalStackError(
      "AUDIT_HMAC_KEY must be at least 32 characters: set a longer key or unset it to use a generated one",
    );
  }
  const generated: Array<keyof LocalSecrets> = [];
  const pick = (key: keyof LocalSecrets, override: string | undefined): string => {
    if (override) return override;
    const existing = saved[key];
    if (existing) return existing;
    generated.push(key);
    return randomBytes(32).toString("hex");
  };
  const secrets: LocalSecrets = {
    github_webhook_secret: pick("github_webhook_secret", overrides.GITHUB_WEBHOOK_SECRET),
    api_token: pick("api_token", overrides.AGENTFORGE_API_TOKEN),
    audit_hmac_key: pick("audit_hmac_key", overrides.AUDIT_HMAC_KEY),
  };
  mkdirSync(dataDir, { recursive: true });
  writeJsonFile(path, secrets, 0o600);
  return { secrets, generated };
}
