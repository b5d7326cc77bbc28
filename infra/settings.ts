import type { Node } from "constructs";
import { TABLE } from "../src/adapters/dynamo/table-definition.js";
import { parseAllowedRepositories, parseTrustedCheckApps } from "../src/domain/webhooks/trust.js";
import { SECRETS, type SecretName } from "../src/topology.js";

/**
 * Deployment settings, read from CDK context (`cdk.json` or `-c key=value`). Nothing here needs AWS
 * credentials or a lookup, so `cdk synth` works offline. Every key is documented in docs/deploy.md.
 */
export interface Settings {
  tableName: string;
  /** Create the generated secrets (webhook secret, API token, audit key) with random values. */
  createSecrets: boolean;
  /** Secrets Manager name of each secret; functions read them by name at run time. */
  secretNames: Record<SecretName, string>;
  /** A customer managed KMS key encrypting the database secret (RDS-managed secrets may use one). */
  databaseSecretKmsKeyArn?: string;
  /** Where the Postgres-talking functions run; absent = outside any VPC. */
  vpc?: { vpcId: string; subnetIds: string[]; securityGroupIds: string[] };
  /**
   * Agents' AWS accounts: they may send to the bids queue, and the functions may send only to queues
   * in them. Empty = no account may send bids, and functions may send to any account but this one.
   */
  agentAccounts: string[];
  /**
   * The IAM roles (or users) agents send bids as. When set, the bids queue allows `sqs:SendMessage`
   * to exactly these ARNs and denies it to every other principal, even in this account. Each must
   * be in `agentAccounts` when that is set.
   */
  agentPrincipals: string[];
  /** Regions of agents' queues; empty = any region. */
  agentQueueRegions: string[];
  logRetentionDays: number;
  logLevel: "DEBUG" | "INFO" | "WARN" | "ERROR";
  alarmEmail?: string;
  /** Optional function settings; unset ones keep the defaults of `src/config.ts`. */
  functionEnv: {
    APPROVAL_THRESHOLD?: string;
    ESCROW_TIMEOUT_HOURS?: string;
    BID_WINDOW_SECONDS?: string;
    MARKETPLACE_LABEL?: string;
    HUMAN_INTERVENTION_LABEL?: string;
    WEBHOOK_MAX_BODY_BYTES?: string;
    API_KEY_OVERLAP_SECONDS?: string;
    SECRET_ROTATION_OVERLAP_SECONDS?: string;
    DELIVERY_TTL_SECONDS?: string;
    GITHUB_ALLOWED_REPOSITORIES?: string;
    GITHUB_TRUSTED_CHECK_APPS?: string;
    MESSAGE_MAX_SKEW_SECONDS?: string;
    AUDIT_ANCHOR_MIN_INTERVAL_SECONDS?: string;
    CIRCUIT_FAILURE_THRESHOLD?: string;
    CIRCUIT_COOLDOWN_SECONDS?: string;
  };
  /**
   * Object Lock retention (compliance mode) of every audit anchor, in days: nobody can delete or
   * shorten it before then, not even the account root. Default 365.
   */
  auditAnchorRetentionDays: number;
  /**
   * Changing it (any string) sets `AGENTFORGE_SECRETS_EPOCH` on every function that reads a secret,
   * which replaces their warm containers: they cache the webhook secret, audit key and database URL
   * for their lifetime, so this is how a rotated value of those takes effect at once. Operator tokens
   * need no epoch: they are cached for 60 s and their previous version is accepted.
   */
  secretsEpoch?: string;
  /** HTTP API default route throttling. */
  apiThrottle: { rateLimit: number; burstLimit: number };
}

/** Optional function variables and the context key that sets each; unset ones keep config defaults. */
export const FUNCTION_ENV_CONTEXT_KEYS = {
  APPROVAL_THRESHOLD: "approvalThreshold",
  ESCROW_TIMEOUT_HOURS: "escrowTimeoutHours",
  BID_WINDOW_SECONDS: "bidWindowSeconds",
  MARKETPLACE_LABEL: "marketplaceLabel",
  HUMAN_INTERVENTION_LABEL: "humanInterventionLabel",
  WEBHOOK_MAX_BODY_BYTES: "webhookMaxBodyBytes",
  DELIVERY_TTL_SECONDS: "deliveryTtlSeconds",
  GITHUB_ALLOWED_REPOSITORIES: "githubAllowedRepositories",
  GITHUB_TRUSTED_CHECK_APPS: "githubTrustedCheckApps",
  API_KEY_OVERLAP_SECONDS: "apiKeyOverlapSeconds",
  SECRET_ROTATION_OVERLAP_SECONDS: "secretRotationOverlapSeconds",
  MESSAGE_MAX_SKEW_SECONDS: "messageMaxSkewSeconds",
  AUDIT_ANCHOR_MIN_INTERVAL_SECONDS: "auditAnchorMinIntervalSeconds",
  CIRCUIT_FAILURE_THRESHOLD: "circuitFailureThreshold",
  CIRCUIT_COOLDOWN_SECONDS: "circuitCooldownSeconds",
} as const;

/** Lists checked at synth with the functions' own parsers, so a bad entry fails `cdk synth`, not a cold start. */
const LIST_CONTEXT_PARSERS: Partial<Record<keyof Settings["functionEnv"], (value: string) => string[]>> = {
  GITHUB_ALLOWED_REPOSITORIES: parseAllowedRepositories,
  GITHUB_TRUSTED_CHECK_APPS: parseTrustedCheckApps,
};

/** CloudWatch Logs accepts only these retention periods (days). */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
];

/** A list from context: a JSON array (cdk.json) or a comma-separated string (`-c`). */
function list(value: unknown): string[] {
  if (value === undefined || value === null || value === "") return [];
  if (Array.isArray(value)) return value.map(String).filter(Boolean);
  return String(value)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function text(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  return String(value);
}

function bool(value: unknown): boolean {
  return value === true || value === "true" || value === "1";
}

/** Reads and checks the settings; an invalid value fails synthesis with the key's name. */
export function readSettings(node: Node): Settings {
  const ctx = (key: string): unknown => node.tryGetContext(key);
  const fail = (key: string, why: string): never => {
    throw new Error(`Invalid CDK context "${key}": ${why}`);
  };

  const secretNames = Object.fromEntries(
    (Object.keys(SECRETS) as SecretName[]).map((name) => [
      name,
      text(ctx(`${name}SecretName`)) ?? SECRETS[name].defaultName,
    ]),
  ) as Record<SecretName, string>;

  const vpcId = text(ctx("vpcId"));
  const subnetIds = list(ctx("subnetIds"));
  const securityGroupIds = list(ctx("securityGroupIds"));
  if (vpcId && subnetIds.length === 0)
    fail("subnetIds", "required with vpcId (private subnets with a NAT route)");
  if (!vpcId && (subnetIds.length > 0 || securityGroupIds.length > 0))
    fail("vpcId", "required with subnetIds");

  const agentAccounts = list(ctx("agentAccounts"));
  for (const account of agentAccounts) {
    if (!/^\d{12}$/.test(account)) fail("agentAccounts", `${account} is not a 12-digit account id`);
  }
  const agentPrincipals = list(ctx("agentPrincipals"));
  for (const arn of agentPrincipals) {
    const match = /^arn:aws[a-z-]*:iam::(\d{12}):(role|user)\/[\w+=,.@/-]{1,512}$/.exec(arn);
    if (!match) fail("agentPrincipals", `${arn} is not an IAM role or user ARN`);
    if (match && agentAccounts.length > 0 && !agentAccounts.includes(match[1] as string)) {
      fail("agentPrincipals", `${arn} is not in one of agentAccounts`);
    }
  }
  const agentQueueRegions = list(ctx("agentQueueRegions"));
  for (const region of agentQueueRegions) {
    if (!/^[a-z]{2}(-[a-z]+)+-\d$/.test(region)) fail("agentQueueRegions", `${region} is not a region`);
  }

  const logRetentionDays = Number(ctx("logRetentionDays") ?? 30);
  if (!RETENTION_DAYS.includes(logRetentionDays)) {
    fail("logRetentionDays", `must be one of ${RETENTION_DAYS.join(", ")}`);
  }
  const logLevel = (text(ctx("logLevel")) ?? "INFO").toUpperCase();
  if (!["DEBUG", "INFO", "WARN", "ERROR"].includes(logLevel))
    fail("logLevel", "must be DEBUG, INFO, WARN or ERROR");

  const functionEnv: Settings["functionEnv"] = {};
  for (const [envKey, contextKey] of Object.entries(FUNCTION_ENV_CONTEXT_KEYS) as Array<
    [keyof Settings["functionEnv"], string]
  >) {
    const parseList = LIST_CONTEXT_PARSERS[envKey];
    // A list may be a JSON array in cdk.json or a comma-separated `-c` value; functions get the latter.
    const raw = ctx(contextKey);
    const value = text(parseList && Array.isArray(raw) ? raw.map(String).join(",") : raw);
    if (value === undefined) continue;
    if (parseList) {
      try {
        parseList(value);
      } catch (error) {
        fail(contextKey, (error as Error).message);
      }
    }
    functionEnv[envKey] = value;
  }

  const rateLimit = Number(ctx("apiRateLimit") ?? 50);
  const burstLimit = Number(ctx("apiBurstLimit") ?? 100);
  if (!(rateLimit > 0 && Number.isInteger(burstLimit) && burstLimit > 0)) {
    fail("apiRateLimit", "apiRateLimit and apiBurstLimit must be positive");
  }

  const auditAnchorRetentionDays = Number(ctx("auditAnchorRetentionDays") ?? 365);
  if (
    !Number.isInteger(auditAnchorRetentionDays) ||
    auditAnchorRetentionDays < 1 ||
    auditAnchorRetentionDays > 36_500
  ) {
    fail("auditAnchorRetentionDays", "must be a whole number of days from 1 to 36500");
  }

  const databaseSecretKmsKeyArn = text(ctx("databaseSecretKmsKeyArn"));
  const alarmEmail = text(ctx("alarmEmail"));
  const secretsEpoch = text(ctx("secretsEpoch"));
  return {
    tableName: text(ctx("tableName")) ?? TABLE.defaultName,
    createSecrets: bool(ctx("createSecrets")),
    secretNames,
    ...(databaseSecretKmsKeyArn ? { databaseSecretKmsKeyArn } : {}),
    ...(vpcId ? { vpc: { vpcId, subnetIds, securityGroupIds } } : {}),
    agentAccounts,
    agentPrincipals,
    agentQueueRegions,
    logRetentionDays,
    logLevel: logLevel as Settings["logLevel"],
    ...(alarmEmail ? { alarmEmail } : {}),
    functionEnv,
    ...(secretsEpoch ? { secretsEpoch } : {}),
    apiThrottle: { rateLimit, burstLimit },
    auditAnchorRetentionDays,
  };
}
