import { z } from "zod";
import { type LocalSecrets, readEndpoints, readSecrets, resolveDataDir } from "../local/stack-files.js";
import { SECRETS, type SecretSpec } from "../topology.js";
import type { GlobalOptions } from "./args.js";
import { CliError } from "./errors.js";
import { readJsonInput } from "./files.js";

/** The deployment the CLI talks to: where its API is and how to get the secrets it needs. */
export interface Target {
  /** Base URL of the HTTP API (REST routes and `/webhooks/github`). */
  apiUrl: string;
  /** The local stack found through its endpoints file: a refused connection means it is not running. */
  local: boolean;
  apiToken(): Promise<string>;
  webhookSecret(): Promise<string>;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Where one secret can come from, in order: the environment, Secrets Manager, the local stack. */
interface SecretSource {
  name: string;
  envName: string;
  spec: SecretSpec;
  local: keyof LocalSecrets;
}

const API_TOKEN: SecretSource = {
  name: "The API token",
  envName: "AGENTFORGE_API_TOKEN",
  spec: SECRETS.apiToken,
  local: "api_token",
};

const WEBHOOK_SECRET: SecretSource = {
  name: "The GitHub webhook secret",
  envName: "GITHUB_WEBHOOK_SECRET",
  spec: SECRETS.githubWebhookSecret,
  local: "github_webhook_secret",
};

/**
 * Resolves the target from the global options. The API URL is `--api-url`, else the `ApiUrl` output in
 * `--stack-outputs`, else the running local stack's `endpoints.json`. Each secret is its environment
 * variable (`AGENTFORGE_API_TOKEN`, `GITHUB_WEBHOOK_SECRET`), else Secrets Manager when targeting AWS
 * (`--stack-outputs`, or a secret id given), else the local stack's `secrets.json`. Secrets are read
 * only when a command needs them.
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
  const secret = (source: SecretSource, secretId: string | undefined): (() => Promise<string>) => {
    const value = env[source.envName];
    if (value) return async () => value;
    const id = secretId ?? (onAws ? source.spec.defaultName : undefined);
    if (id) return () => readAwsSecret(source, id, region);
    return async () => {
      localSecrets ??= readSecrets(dataDir);
      return localSecrets[source.local];
    };
  };

  return {
    apiUrl,
    local: globals.apiUrl === undefined && !onAws,
    apiToken: secret(API_TOKEN, globals.apiTokenSecret),
    webhookSecret: secret(WEBHOOK_SECRET, globals.webhookSecret),
  };
}

async function readAwsSecret(
  { name, envName }: SecretSource,
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
      `${(error as Error).message} (secret ${secretId})${reason}; check your AWS credentials and region, or set ${envName}`,
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
