import { readFile } from "node:fs/promises";
import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import type { OperatorSource, SecretSource } from "../config.js";
import { DEFAULT_OPERATOR, OPERATOR_NAME } from "../domain/identity/principal.js";
import { SecretUnavailableError } from "./secrets.js";

/** One operator's bearer token. A name may have two during a rotation (current and previous). */
export interface OperatorCredential {
  name: string;
  token: string;
}

/** Reads a Secrets Manager secret's version by stage; `undefined` when that version does not exist. */
export type StagedSecretFetcher = (
  secretId: string,
  stage: "AWSCURRENT" | "AWSPREVIOUS",
) => Promise<string | undefined>;

export interface OperatorCredentialsOptions {
  /** `AGENTFORGE_API_TOKEN`: the default operator's token (`operator:default`). */
  defaultToken?: SecretSource;
  /** The named operators. */
  operators?: OperatorSource;
  /** How long values are cached: rotated or added credentials apply within it, no redeploy needed. */
  ttlMs?: number;
  fetch?: StagedSecretFetcher;
  region?: string;
  now?: () => number;
  /**
   * Called when the named operators' document is invalid. The named operators are then refused (until
   * it is fixed) while the default operator and agent keys keep working: one typo in the operators
   * file must not take the whole API down.
   */
  onInvalidDocument?: (error: OperatorDocumentError) => void;
}

/** The named operators' document is not valid: a configuration error, not an outage. */
export class OperatorDocumentError extends SecretUnavailableError {
  override name = "OperatorDocumentError";
}

/** Tokens shorter than this are refused as configuration errors: a guessable operator token is worse than none. */
export const MIN_OPERATOR_TOKEN_LENGTH = 32;

/**
 * Parses `{ "<name>": "<token>" }`. A bad entry fails the whole document (with the name, never the
 * token), so a typo cannot silently lock an operator out or let a short token in.
 */
export function parseOperatorDocument(text: string, where: string): OperatorCredential[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new OperatorDocumentError(`${where} is not a JSON object of operator names to tokens`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new OperatorDocumentError(`${where} must be a JSON object of operator names to tokens`);
  }
  return Object.entries(parsed).map(([name, token]) => {
    if (!OPERATOR_NAME.test(name)) {
      throw new OperatorDocumentError(
        `${where}: operator name ${JSON.stringify(name.slice(0, 64))} must be 1-64 of a-z 0-9 . _ -`,
      );
    }
    if (typeof token !== "string" || token.length < MIN_OPERATOR_TOKEN_LENGTH || /\s/.test(token)) {
      throw new OperatorDocumentError(
        `${where}: operator ${name} needs a token of at least ${MIN_OPERATOR_TOKEN_LENGTH} characters without spaces`,
      );
    }
    return { name, token };
  });
}

/**
 * The operators' credentials, cached for `ttlMs`. On AWS both the current and the previous
 * (`AWSPREVIOUS`) version of each secret are accepted, so a rotation takes effect without a redeploy
 * and clients holding the old value keep working until they switch. A failed read is not cached.
 */
export function createOperatorCredentials({
  defaultToken,
  operators,
  ttlMs = 60_000,
  fetch,
  region,
  now = Date.now,
  onInvalidDocument,
}: OperatorCredentialsOptions): () => Promise<OperatorCredential[]> {
  let cached: { at: number; value: Promise<OperatorCredential[]> } | undefined;
  let read: StagedSecretFetcher | undefined = fetch;
  const fetcher = () => {
    read ??= secretsManagerStagedFetcher(region);
    return read;
  };

  async function versions(secretId: string, what: string): Promise<string[]> {
    let current: string | undefined;
    let previous: string | undefined;
    try {
      [current, previous] = await Promise.all([
        fetcher()(secretId, "AWSCURRENT"),
        fetcher()(secretId, "AWSPREVIOUS"),
      ]);
    } catch (error) {
      throw new SecretUnavailableError(`${what} could not be read from Secrets Manager`, { cause: error });
    }
    if (!current) throw new SecretUnavailableError(`${what} in Secrets Manager is empty`);
    return previous && previous !== current ? [current, previous] : [current];
  }

  async function loadNamed(operators: OperatorSource): Promise<OperatorCredential[]> {
    if ("value" in operators) return parseOperatorDocument(operators.value, "AGENTFORGE_OPERATORS");
    if ("secretId" in operators) {
      const texts = await versions(operators.secretId, "operators secret");
      return texts.flatMap((text) => parseOperatorDocument(text, "operators secret"));
    }
    let text: string;
    try {
      text = await readFile(operators.file, "utf8");
    } catch (error) {
      // No file: no named operators (the default one still works).
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new SecretUnavailableError(`operators file ${operators.file} could not be read`, {
        cause: error,
      });
    }
    return parseOperatorDocument(text, operators.file);
  }

  async function load(): Promise<OperatorCredential[]> {
    const credentials: OperatorCredential[] = [];
    if (defaultToken) {
      const tokens =
        "value" in defaultToken ? [defaultToken.value] : await versions(defaultToken.secretId, "API token");
      for (const token of tokens) if (token) credentials.push({ name: DEFAULT_OPERATOR, token });
    }
    if (operators) {
      try {
        credentials.push(...(await loadNamed(operators)));
      } catch (error) {
        if (!(error instanceof OperatorDocumentError) || credentials.length === 0) throw error;
        onInvalidDocument?.(error);
      }
    }
    return credentials;
  }

  return () => {
    const at = now();
    if (!cached || at - cached.at >= ttlMs) {
      const entry = {
        at,
        value: load().catch((error: unknown) => {
          if (cached === entry) cached = undefined;
          throw error;
        }),
      };
      cached = entry;
    }
    return cached.value;
  };
}

function secretsManagerStagedFetcher(region: string | undefined): StagedSecretFetcher {
  const provider = new SecretsProvider(region ? { clientConfig: { region } } : {});
  return async (secretId, stage) => {
    try {
      // Our own TTL caches; Powertools' cache would keep a value longer than asked.
      const value = await provider.get(secretId, { forceFetch: true, sdkOptions: { VersionStage: stage } });
      return typeof value === "string" ? value : undefined;
    } catch (error) {
      // A secret that was never rotated has no AWSPREVIOUS version.
      if (stage === "AWSPREVIOUS" && isNotFound(error)) return undefined;
      throw error;
    }
  };
}

function isNotFound(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 3 && current; depth += 1) {
    const name = (current as { name?: string }).name;
    if (name === "ResourceNotFoundException") return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
