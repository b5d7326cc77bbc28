import { TABLE } from "./adapters/dynamo/table-definition.js";
import { parseAllowedRepositories, parseTrustedCheckApps } from "./domain/webhooks/trust.js";
import { DEFAULT_WEBHOOK_MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES } from "./http/webhook-request.js";

/**
 * Reads environment variables and collects every problem, so one start-up error names them all.
 * Deliberately free of a schema library: every function loads its configuration at cold start, and
 * the authorizer and the SQS-only functions carry no zod at all this way. An unset or blank
 * variable takes its default.
 */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Record<string, string | undefined>) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === "" ? undefined : value;
  }

  private fail(name: string, message: string): undefined {
    this.problems.push(`${name}: ${message}`);
    return undefined;
  }

  string(name: string): string | undefined;
  string(name: string, options: { fallback: string; minLength?: number }): string;
  string(name: string, options: { minLength?: number; pattern?: [RegExp, string] }): string | undefined;
  string(
    name: string,
    options: { fallback?: string; minLength?: number; pattern?: [RegExp, string] } = {},
  ): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return options.fallback;
    if (options.minLength !== undefined && value.length < options.minLength) {
      return this.fail(name, `must be at least ${options.minLength} characters`) ?? options.fallback;
    }
    if (options.pattern && !options.pattern[0].test(value)) return this.fail(name, options.pattern[1]);
    return value;
  }

  url(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      new URL(value);
      return value;
    } catch {
      return this.fail(name, "must be a URL");
    }
  }

  number(name: string, options: { min?: number; max?: number; integer?: boolean; maxMessage?: string }) {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const parsed = Number(value.trim());
    if (!Number.isFinite(parsed)) return this.fail(name, "must be a number");
    if (options.integer && !Number.isInteger(parsed)) return this.fail(name, "must be a whole number");
    if (options.min !== undefined && parsed < options.min) {
      return this.fail(name, options.min === 1 ? "must be positive" : `must be at least ${options.min}`);
    }
    if (options.max !== undefined && parsed > options.max) {
      return this.fail(name, options.maxMessage ?? `must be at most ${options.max}`);
    }
    return parsed;
  }

  /** A whole number in [min, max] (min 1 by default), else the fallback. */
  int(
    name: string,
    fallback: number,
    bounds: { min?: number; max?: number; maxMessage?: string } = {},
  ): number {
    return this.number(name, { integer: true, min: bounds.min ?? 1, ...bounds }) ?? fallback;
  }

  /** A comma-separated list checked by `parse`; a bad entry is named. */
  list(name: string, parse: (value: string) => string[]): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      return parse(value);
    } catch (error) {
      return this.fail(name, (error as Error).message);
    }
  }

  flag(name: string): boolean {
    const value = this.raw(name);
    if (value === undefined || value === "false" || value === "0") return false;
    if (value === "true" || value === "1") return true;
    this.fail(name, "must be true, false, 1 or 0");
    return false;
  }
}

const WEEK_SECONDS = 7 * 24 * 3600;

/**
 * The environment variables, read. Each is documented where it is read; `src/topology.ts` says
 * which function gets which.
 */
function readEnv(r: EnvReader) {
  return {
    AWS_REGION: r.string("AWS_REGION", { fallback: "us-east-1" }),
    TABLE_NAME: r.string("TABLE_NAME", { fallback: TABLE.defaultName, minLength: 3 }),
    /** DynamoDB Local endpoint; unset on AWS. */
    DYNAMODB_ENDPOINT: r.url("DYNAMODB_ENDPOINT"),
    /** SQS emulator endpoint; unset on AWS. */
    SQS_ENDPOINT: r.url("SQS_ENDPOINT"),
    INTAKE_QUEUE_URL: r.url("INTAKE_QUEUE_URL"),
    /** New tasks' ids, queued by the table stream consumer for the dispatch worker. */
    DISPATCH_QUEUE_URL: r.url("DISPATCH_QUEUE_URL"),
    /** Where agents send BID / DECLINE / COST_REPORT messages (the `reply_to` of bid requests). */
    BIDS_QUEUE_URL: r.url("BIDS_QUEUE_URL"),
    /** One job per (task, agent): the bid requests and notices the delivery worker signs and sends. */
    DELIVERY_QUEUE_URL: r.url("DELIVERY_QUEUE_URL"),
    /** The same jobs for agents with HTTPS endpoints, on lanes of their own (unset: all on DELIVERY_QUEUE_URL). */
    HTTPS_DELIVERY_QUEUE_URL: r.url("HTTPS_DELIVERY_QUEUE_URL"),
    /** "Award due" messages (FIFO, deduplicated per task) for the award worker. */
    AWARD_QUEUE_URL: r.url("AWARD_QUEUE_URL"),
    /** Consecutive failed deliveries (each after its retries) that open an agent endpoint's circuit. */
    CIRCUIT_FAILURE_THRESHOLD: r.int("CIRCUIT_FAILURE_THRESHOLD", 3, { min: 1, max: 100 }),
    /** How long an open circuit skips sends before one trial delivery may try the endpoint again. */
    CIRCUIT_COOLDOWN_SECONDS: r.int("CIRCUIT_COOLDOWN_SECONDS", 300, { min: 1, max: 86_400 }),
    /** The projector's failure store (its stream failure queue): permanently failing records, for replay. */
    PROJECTOR_FAILURES_QUEUE_URL: r.url("PROJECTOR_FAILURES_QUEUE_URL"),
    /** This deployment's AWS account: agents may not register queues in it (they could target ours). */
    MARKETPLACE_ACCOUNT_ID: r.string("MARKETPLACE_ACCOUNT_ID", {
      pattern: [/^\d{12}$/, "must be a 12-digit AWS account id"],
    }),
    /** Issues with this label become marketplace tasks. */
    MARKETPLACE_LABEL: r.string("MARKETPLACE_LABEL", { fallback: "agentforge" }),
    HUMAN_INTERVENTION_LABEL: r.string("HUMAN_INTERVENTION_LABEL", { fallback: "human-intervention" }),
    /**
     * `owner/name` or `owner/*` entries, comma-separated, case-insensitive: the only repositories whose
     * deliveries create tasks and give evidence. Unset = every repository (the intake worker warns).
     */
    GITHUB_ALLOWED_REPOSITORIES: r.list("GITHUB_ALLOWED_REPOSITORIES", parseAllowedRepositories),
    /** GitHub App slugs, comma-separated: when set, check suites and runs count only from these apps. */
    GITHUB_TRUSTED_CHECK_APPS: r.list("GITHUB_TRUSTED_CHECK_APPS", parseTrustedCheckApps),
    /**
     * Webhook bodies above this many decoded bytes get 413. Default 1 MiB, enough for every delivery of
     * the events the worker handles (GitHub does not redeliver a refused one). At most 4 MiB: a larger
     * body cannot reach the Lambda reliably (6 MB invoke payload, base64 adds a third). It does not bound
     * the queued message, which holds only the fields the worker reads (at most 256 KiB).
     */
    WEBHOOK_MAX_BODY_BYTES: r.int("WEBHOOK_MAX_BODY_BYTES", DEFAULT_WEBHOOK_MAX_BODY_BYTES, {
      max: MAX_WEBHOOK_BODY_BYTES,
      maxMessage: `must be at most ${MAX_WEBHOOK_BODY_BYTES} (4 MiB), the most the receiver can take`,
    }),
    /** How long a delivery id is remembered for dedupe (GitHub redelivers for up to 3 days). */
    DELIVERY_TTL_SECONDS: r.int("DELIVERY_TTL_SECONDS", WEEK_SECONDS),
    BID_WINDOW_SECONDS: r.int("BID_WINDOW_SECONDS", 300),
    /**
     * Protocol v2: how far a message's signed `sent_at` may be from the time SQS accepted it, either
     * way, before it is STALE. Nonces are kept a while longer than this window.
     */
    MESSAGE_MAX_SKEW_SECONDS: r.int("MESSAGE_MAX_SKEW_SECONDS", 300, { min: 30, max: 3600 }),
    /** Plain secrets are for local runs; on AWS the *_SECRET_ARN variables name Secrets Manager secrets. */
    GITHUB_WEBHOOK_SECRET: r.string("GITHUB_WEBHOOK_SECRET"),
    GITHUB_WEBHOOK_SECRET_ARN: r.string("GITHUB_WEBHOOK_SECRET_ARN"),
    AGENTFORGE_API_TOKEN: r.string("AGENTFORGE_API_TOKEN"),
    AGENTFORGE_API_TOKEN_ARN: r.string("AGENTFORGE_API_TOKEN_ARN"),
    /** Named operators: a JSON object `{ "<name>": "<token>" }` (value, Secrets Manager id, or a file locally). */
    AGENTFORGE_OPERATORS: r.string("AGENTFORGE_OPERATORS"),
    AGENTFORGE_OPERATORS_ARN: r.string("AGENTFORGE_OPERATORS_ARN"),
    AGENTFORGE_OPERATORS_FILE: r.string("AGENTFORGE_OPERATORS_FILE"),
    /** How long a rotated-out agent API key keeps working. */
    API_KEY_OVERLAP_SECONDS: r.int("API_KEY_OVERLAP_SECONDS", 600, { min: 0, max: WEEK_SECONDS }),
    /**
     * The key that encrypts agents' bid-signing secrets at rest (envelope encryption): a KMS key id or
     * ARN on AWS, a 32-byte key file locally. One of them is required by every function that signs or
     * verifies agent messages, except in local mode, where unset means a key held in memory.
     */
    BID_SECRET_KMS_KEY_ID: r.string("BID_SECRET_KMS_KEY_ID"),
    BID_SECRET_KEY_FILE: r.string("BID_SECRET_KEY_FILE"),
    /** How long an agent's previous bid-signing secret keeps verifying after a rotation. */
    SECRET_ROTATION_OVERLAP_SECONDS: r.int("SECRET_ROTATION_OVERLAP_SECONDS", 600, {
      min: 0,
      max: WEEK_SECONDS,
    }),
    /** Postgres for governance; unset locally means embedded PGlite (in AGENTFORGE_DATA_DIR, else memory). */
    DATABASE_URL: r.string("DATABASE_URL"),
    DATABASE_URL_SECRET_ARN: r.string("DATABASE_URL_SECRET_ARN"),
    /**
     * The owner role's connection, for migrations (`npm run db:migrate`; the app too, at start-up,
     * when it is set). DATABASE_URL is then the app role, which may not change the schema, disable a
     * trigger or rewrite the audit log. Unset: DATABASE_URL migrates (one role: weaker, warned about).
     */
    DATABASE_MIGRATION_URL: r.string("DATABASE_MIGRATION_URL"),
    DATABASE_MIGRATION_URL_SECRET_ARN: r.string("DATABASE_MIGRATION_URL_SECRET_ARN"),
    /**
     * Bounded Postgres waits: a connection (a pool slot, or a new one ready) within this long, every
     * statement within the statement timeout (the client gives up 1 s later if the server says
     * nothing), so an unreachable database costs a governance route seconds, not the Lambda timeout.
     */
    DATABASE_CONNECT_TIMEOUT_MS: r.int("DATABASE_CONNECT_TIMEOUT_MS", 2000, { max: 60_000 }),
    DATABASE_STATEMENT_TIMEOUT_MS: r.int("DATABASE_STATEMENT_TIMEOUT_MS", 5000, { max: 300_000 }),
    /** `pg` pool size per container: a Lambda serves one request at a time, so 2 is plenty. */
    DATABASE_POOL_MAX: r.int("DATABASE_POOL_MAX", 2, { max: 100 }),
    /** HMAC key of the audit log's hash chain (at least 32 characters). */
    AUDIT_HMAC_KEY: r.string("AUDIT_HMAC_KEY", { minLength: 32 }),
    AUDIT_HMAC_KEY_ARN: r.string("AUDIT_HMAC_KEY_ARN"),
    /**
     * Audit anchors (signed checkpoints of the chain head, outside the database): the asymmetric KMS key
     * (ECC_NIST_P256, its ARN) that signs them and the Object Lock bucket that keeps them. Required on
     * AWS by the functions that anchor or verify; locally unset = a key file and a folder in
     * AGENTFORGE_DATA_DIR (memory without one).
     */
    AUDIT_ANCHOR_KMS_KEY_ID: r.string("AUDIT_ANCHOR_KMS_KEY_ID"),
    AUDIT_ANCHOR_BUCKET: r.string("AUDIT_ANCHOR_BUCKET"),
    /** Least time between two anchors; 0 = after every projector batch that moved the chain. */
    AUDIT_ANCHOR_MIN_INTERVAL_SECONDS: r.int("AUDIT_ANCHOR_MIN_INTERVAL_SECONDS", 0, { min: 0, max: 86_400 }),
    /** Local state (PGlite's database lives in `<dir>/pglite`). */
    AGENTFORGE_DATA_DIR: r.string("AGENTFORGE_DATA_DIR"),
    /** Awards above this bid amount wait for a human; unset = no amount rule (Bronze agents still wait). */
    APPROVAL_THRESHOLD: r.number("APPROVAL_THRESHOLD", { min: 0 }),
    /** Pending escrows older than this are refunded by the sweeper. */
    ESCROW_TIMEOUT_HOURS: r.int("ESCROW_TIMEOUT_HOURS", 14 * 24),
    /** Set by the local stack: accepts loopback queue URLs as agent endpoints. */
    AGENTFORGE_LOCAL: r.flag("AGENTFORGE_LOCAL"),
  };
}

export type Env = ReturnType<typeof readEnv>;

/** A secret given either as a value (local) or as a Secrets Manager ARN or name (AWS). */
export type SecretSource = { value: string } | { secretId: string };

/** The key-encryption key of agents' bid secrets: a KMS key (AWS) or a 32-byte key file (local). */
export type BidSecretKeySource = { kmsKeyId: string } | { file: string };

/** The named operators' credentials: like a secret, or a JSON file (the local stack's data directory). */
export type OperatorSource = SecretSource | { file: string };

export interface Config {
  region: string;
  tableName: string;
  dynamoEndpoint?: string;
  sqsEndpoint?: string;
  intakeQueueUrl?: string;
  dispatchQueueUrl?: string;
  bidsQueueUrl?: string;
  deliveryQueueUrl?: string;
  httpsDeliveryQueueUrl?: string;
  awardQueueUrl?: string;
  circuitFailureThreshold: number;
  circuitCooldownSeconds: number;
  projectorFailuresQueueUrl?: string;
  marketplaceAccountId?: string;
  marketplaceLabel: string;
  humanInterventionLabel: string;
  /** Lowercased `owner/name` / `owner/*` patterns; unset = every repository. */
  allowedRepositories?: string[];
  /** Lowercased GitHub App slugs; unset = checks from every app count. */
  trustedCheckApps?: string[];
  webhookMaxBodyBytes: number;
  deliveryTtlSeconds: number;
  bidWindowSeconds: number;
  messageMaxSkewSeconds: number;
  webhookSecret?: SecretSource;
  apiToken?: SecretSource;
  operators?: OperatorSource;
  apiKeyOverlapSeconds: number;
  bidSecretKey?: BidSecretKeySource;
  secretRotationOverlapSeconds: number;
  databaseUrl?: SecretSource;
  /** The owner connection migrations run through (two-role setup); unset = DATABASE_URL migrates. */
  databaseMigrationUrl?: SecretSource;
  /** The `pg` pool's bounds (server Postgres only; PGlite runs in process). */
  databasePool: { max: number; connectTimeoutMs: number; statementTimeoutMs: number };
  auditKey?: SecretSource;
  /** Audit anchors' KMS key and bucket (AWS; both unset locally) and the least time between anchors. */
  auditAnchor: { kmsKeyId?: string; bucket?: string; minIntervalSeconds: number };
  dataDir?: string;
  approvalThreshold?: number;
  escrowTimeoutMs: number;
  local: boolean;
}

function secretSource(value: string | undefined, secretId: string | undefined): SecretSource | undefined {
  if (value) return { value };
  if (secretId) return { secretId };
  return undefined;
}

/** Parses the environment once; the only place below which nothing reads `process.env`. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const reader = new EnvReader(env);
  const e = readEnv(reader);
  if (reader.problems.length > 0) throw new Error(`Invalid configuration: ${reader.problems.join("; ")}`);
  const webhookSecret = secretSource(e.GITHUB_WEBHOOK_SECRET, e.GITHUB_WEBHOOK_SECRET_ARN);
  const apiToken = secretSource(e.AGENTFORGE_API_TOKEN, e.AGENTFORGE_API_TOKEN_ARN);
  const operators: OperatorSource | undefined = e.AGENTFORGE_OPERATORS_FILE
    ? { file: e.AGENTFORGE_OPERATORS_FILE }
    : secretSource(e.AGENTFORGE_OPERATORS, e.AGENTFORGE_OPERATORS_ARN);
  const databaseUrl = secretSource(e.DATABASE_URL, e.DATABASE_URL_SECRET_ARN);
  const databaseMigrationUrl = secretSource(e.DATABASE_MIGRATION_URL, e.DATABASE_MIGRATION_URL_SECRET_ARN);
  const auditKey = secretSource(e.AUDIT_HMAC_KEY, e.AUDIT_HMAC_KEY_ARN);
  if (e.BID_SECRET_KMS_KEY_ID && e.BID_SECRET_KEY_FILE) {
    throw new Error("Invalid configuration: set BID_SECRET_KMS_KEY_ID or BID_SECRET_KEY_FILE, not both");
  }
  const bidSecretKey: BidSecretKeySource | undefined = e.BID_SECRET_KMS_KEY_ID
    ? { kmsKeyId: e.BID_SECRET_KMS_KEY_ID }
    : e.BID_SECRET_KEY_FILE
      ? { file: e.BID_SECRET_KEY_FILE }
      : undefined;
  return {
    region: e.AWS_REGION,
    tableName: e.TABLE_NAME,
    ...(e.DYNAMODB_ENDPOINT ? { dynamoEndpoint: e.DYNAMODB_ENDPOINT } : {}),
    ...(e.SQS_ENDPOINT ? { sqsEndpoint: e.SQS_ENDPOINT } : {}),
    ...(e.INTAKE_QUEUE_URL ? { intakeQueueUrl: e.INTAKE_QUEUE_URL } : {}),
    ...(e.DISPATCH_QUEUE_URL ? { dispatchQueueUrl: e.DISPATCH_QUEUE_URL } : {}),
    ...(e.BIDS_QUEUE_URL ? { bidsQueueUrl: e.BIDS_QUEUE_URL } : {}),
    ...(e.DELIVERY_QUEUE_URL ? { deliveryQueueUrl: e.DELIVERY_QUEUE_URL } : {}),
    ...(e.HTTPS_DELIVERY_QUEUE_URL ? { httpsDeliveryQueueUrl: e.HTTPS_DELIVERY_QUEUE_URL } : {}),
    ...(e.AWARD_QUEUE_URL ? { awardQueueUrl: e.AWARD_QUEUE_URL } : {}),
    circuitFailureThreshold: e.CIRCUIT_FAILURE_THRESHOLD,
    circuitCooldownSeconds: e.CIRCUIT_COOLDOWN_SECONDS,
    ...(e.PROJECTOR_FAILURES_QUEUE_URL ? { projectorFailuresQueueUrl: e.PROJECTOR_FAILURES_QUEUE_URL } : {}),
    ...(e.MARKETPLACE_ACCOUNT_ID ? { marketplaceAccountId: e.MARKETPLACE_ACCOUNT_ID } : {}),
    marketplaceLabel: e.MARKETPLACE_LABEL,
    humanInterventionLabel: e.HUMAN_INTERVENTION_LABEL,
    ...(e.GITHUB_ALLOWED_REPOSITORIES ? { allowedRepositories: e.GITHUB_ALLOWED_REPOSITORIES } : {}),
    ...(e.GITHUB_TRUSTED_CHECK_APPS ? { trustedCheckApps: e.GITHUB_TRUSTED_CHECK_APPS } : {}),
    webhookMaxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES,
    deliveryTtlSeconds: e.DELIVERY_TTL_SECONDS,
    bidWindowSeconds: e.BID_WINDOW_SECONDS,
    messageMaxSkewSeconds: e.MESSAGE_MAX_SKEW_SECONDS,
    ...(webhookSecret ? { webhookSecret } : {}),
    ...(apiToken ? { apiToken } : {}),
    ...(operators ? { operators } : {}),
    apiKeyOverlapSeconds: e.API_KEY_OVERLAP_SECONDS,
    ...(bidSecretKey ? { bidSecretKey } : {}),
    secretRotationOverlapSeconds: e.SECRET_ROTATION_OVERLAP_SECONDS,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(databaseMigrationUrl ? { databaseMigrationUrl } : {}),
    databasePool: {
      max: e.DATABASE_POOL_MAX,
      connectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    ...(auditKey ? { auditKey } : {}),
    auditAnchor: {
      ...(e.AUDIT_ANCHOR_KMS_KEY_ID ? { kmsKeyId: e.AUDIT_ANCHOR_KMS_KEY_ID } : {}),
      ...(e.AUDIT_ANCHOR_BUCKET ? { bucket: e.AUDIT_ANCHOR_BUCKET } : {}),
      minIntervalSeconds: e.AUDIT_ANCHOR_MIN_INTERVAL_SECONDS,
    },
    ...(e.AGENTFORGE_DATA_DIR ? { dataDir: e.AGENTFORGE_DATA_DIR } : {}),
    ...(e.APPROVAL_THRESHOLD !== undefined ? { approvalThreshold: e.APPROVAL_THRESHOLD } : {}),
    escrowTimeoutMs: e.ESCROW_TIMEOUT_HOURS * 3600_000,
    local: e.AGENTFORGE_LOCAL,
  };
}
