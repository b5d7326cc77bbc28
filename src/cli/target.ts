import { join } from "node:path";
import * as z from "zod";
import { apiKeyId } from "../domain/identity/api-key.js";
import {
  type LocalSecrets,
  readEndpoints,
  readSecrets,
  resolveDataDir,
  SECRETS_FILE,
} from "../local/stack-files.js";
import { SECRETS, type SecretSpec } from "../topology.js";
import type { GlobalOptions } from "./args.js";
import { CliError } from "./errors.js";
import { readJsonInput } from "./files.js";

/**
 * The bearer token of every REST request: an operator's token or an agent's own API key. The API
 * decides what its principal may do; `kind` and `from` only say, when it is refused, what was sent.
 */
export interface Credentials {
  kind: "operator" | "agent";
  /** Where the token came from: `AGENTFORGE_AGENT_KEY`, `secret agentforge/api-token`, a file. */
  from: string;
  token(): Promise<string>;
}

/** The deployment the CLI talks to: where its API is and how to get the secrets it needs. */
export interface Target {
  /** Base URL of the HTTP API (REST routes and `/webhooks/github`). */
  apiUrl: string;
  /** The local stack found through its endpoints file: a refused connection means it is not running. */
  local: boolean;
  credentials: Credentials;
  webhookSecret(): Promise<string>;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** An agent's own key: when set, it is the bearer of every REST request instead of an operator token. */
export const AGENT_KEY_ENV = "AGENTFORGE_AGENT_KEY";

/** Credentials whose token is already known (the demo's operator and agents). */
export function fixedCredentials(kind: Credentials["kind"], token: string, from: string): Credentials {
  return { kind, from, token: async () => token };
}

/** Where one secret can come from, in order: the environment, Secrets Manager, the local stack. */
interface SecretSource {
  name: string;
  /** Environment variables that hold it, the first one set winning. */
  envNames: readonly string[];
  spec: SecretSpec;
  local: keyof LocalSecrets;
}

/** An operator's token: a named operator's (`AGENTFORGE_OPERATOR_TOKEN`) or the default operator's. */
const OPERATOR_TOKEN: SecretSource = {
  name: "The operator token",
  envNames: ["AGENTFORGE_OPERATOR_TOKEN", "AGENTFORGE_API_TOKEN"],
  spec: SECRETS.apiToken,
  local: "api_token",
};

const WEBHOOK_SECRET: SecretSource = {
  name: "The GitHub webhook secret",
  envNames: ["GITHUB_WEBHOOK_SECRET"],
  spec: SECRETS.githubWebhookSecret,
  local: "github_webhook_secret",
};

/**
 * Resolves the target from the global options. The API URL is `--api-url`, else the `ApiUrl` output in
 * `--stack-outputs`, else the running local stack's `endpoints.json`. The bearer is `AGENTFORGE_AGENT_KEY`
 * when set (an agent acting for itself), else the operator token. Each secret is its environment
 * variable (`AGENTFORGE_OPERATOR_TOKEN`, else `AGENTFORGE_API_TOKEN`; `GITHUB_WEBHOOK_SECRET`), else
 * Secrets Manager when targeting AWS (`--stack-outputs`, or a secret id given), else the local stack's
 * `secrets.json`. Secrets are read only when a command needs them.
 */
export function resolveTarget(globals: GlobalOptions, env: Env): Target {
  const dataDir = resolveDataDir(globals.dataDir ? { AGENTFORGE_DATA_DIR: globals.dataDir } : env);
  const fromOutputs = globals.stackOutputs
    ? apiUrlFromStackOutputs(readJsonInput(globals.stackOutputs, "stack outputs file"), globals.stack)
    : undefined;
  const apiUrl = checkedApiUrl(globals.apiUrl ?? fromOutputs ?? readEndpoints(dataDir).api_url);
  const onAws = globals.stackOutputs !== undefined;
  const region = regionOfApiUrl(apiUrl);

  let localSecrets: LocalSecrets | undefined;
  const secret = (source: SecretSource, secretId: string | undefined) => {
    for (const envName of source.envNames) {
      const value = env[envName];
      if (value) return { from: envName, read: async () => value };
    }
    const id = secretId ?? (onAws ? source.spec.defaultName : undefined);
    if (id) return { from: `secret ${id}`, read: () => readAwsSecret(source, id, region) };
    return {
      from: `${join(dataDir, SECRETS_FILE)} (${source.local})`,
      read: async () => {
        localSecrets ??= readSecrets(dataDir);
        return localSecrets[source.local];
      },
    };
  };
  const agentKey = env[AGENT_KEY_ENV];
  const operator = secret(OPERATOR_TOKEN, globals.apiTokenSecret);

  return {
    apiUrl,
    local: globals.apiUrl === undefined && !onAws,
    credentials: agentKey
      ? { kind: "agent", from: AGENT_KEY_ENV, token: async () => checkedAgentKey(agentKey) }
      : { kind: "operator", from: operator.from, token: operator.read },
    webhookSecret: secret(WEBHOOK_SECRET, globals.webhookSecret).read,
  };
}

/** A malformed agent key would reach the API as an (unknown) operator token: say what is wrong instead. */
function checkedAgentKey(value: string): string {
  if (apiKeyId(value) === undefined) {
    throw new CliError(
      `${AGENT_KEY_ENV} is not an agent API key (afk_<20 hex>_<43 base64url>, as registration or rotate-key printed it); unset it to use the operator token`,
    );
  }
  return value;
}

async function readAwsSecret(
  { name, envNames }: SecretSource,
  secretId: string,
  region: string | undefined,
): Promise<string> {
  // Imported here so that commands against the local stack never load the AWS SDK.
  const { createSecretResolver } = await import("../adapters/secrets.js");
  try {
    return await createSecretResolver({ name, source: { secretId }, ...(region ? { region } : {}) })();
  } catch (error) {
    const cause = (error as Error).cause;
    const reason = cause instanceof Error ? `: ${cause.message}` : "";
    throw new CliError(
      `${(error as Error).message} (secret ${secretId})${reason}; check your AWS credentials and region, or set ${envNames.join(" or ")}`,
    );
  }
}

const stackOutputsSchema = z.record(z.string(), z.record(z.string(), z.unknown()));

/**
 * The `ApiUrl` output of the AgentForge service stack in the JSON that `cdk deploy --outputs-file`
 * writes (`{ "<stack>": { "<output>": value } }`): the named stack's, else the only stack that has one.
 */
export function apiUrlFromStackOutputs(outputs: unknown, stack?: string): string {
  const parsed = stackOutputsSchema.safeParse(outputs);
  if (!parsed.success) {
    throw new CliError("the stack outputs file must be the JSON written by `cdk deploy --outputs-file`");
  }
  const stacks = Object.entries(parsed.data);
  const withApi = stacks.filter(([, values]) => typeof values.ApiUrl === "string");
  if (stack !== undefined) {
    const chosen = stacks.find(([name]) => name === stack);
    if (!chosen) {
      throw new CliError(
        `stack ${stack} is not in the stack outputs file; it has ${stacks.map(([name]) => name).join(", ") || "none"}`,
      );
    }
    const url = chosen[1].ApiUrl;
    if (typeof url !== "string") throw new CliError(`stack ${stack} has no ApiUrl output`);
    return url;
  }
  const [only, ...others] = withApi;
  if (!only) {
    throw new CliError(
      "no stack in the stack outputs file has an ApiUrl output: deploy the service stack with `--outputs-file`",
    );
  }
  if (others.length > 0) {
    const names = withApi.map(([name]) => name).join(", ");
    throw new CliError(`several stacks have an ApiUrl output (${names}): choose one with --stack <name>`);
  }
  return only[1].ApiUrl as string;
}

/** The region of an API Gateway URL (`https://<id>.execute-api.<region>.amazonaws.com/`), where its secrets live. */
export function regionOfApiUrl(apiUrl: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(new URL(apiUrl).hostname)?.[1];
}

function checkedApiUrl(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol !== "http:" && url?.protocol !== "https:") {
    throw new CliError(`the API URL must be an http(s) URL, not '${value}'`);
  }
  return value;
}
