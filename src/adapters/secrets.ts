import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import type { SecretSource } from "../config.js";

/** Reads one secret by ARN or name. */
export type SecretFetcher = (secretId: string) => Promise<string | Uint8Array | undefined>;

/** The secret is not configured, could not be read, or is empty. The message never contains its value. */
export class SecretUnavailableError extends Error {
  override name = "SecretUnavailableError";
}

export interface SecretResolverOptions {
  /** What the secret is for, used in error messages only. */
  name: string;
  /** `{ value }` locally, `{ secretId }` on AWS; undefined means not configured. */
  source: SecretSource | undefined;
  /** Defaults to Secrets Manager through Powertools' `SecretsProvider`, built on first use. */
  fetch?: SecretFetcher;
  region?: string;
}

/**
 * Resolves a configured secret at most once per Lambda container and caches it in memory.
 *
 * A failed read is not cached, so the next invocation tries again instead of the container being
 * stuck. The trade-off of caching for the container's life: after rotating the secret, warm
 * containers keep the old value until they are recycled (or the functions are redeployed).
 */
export function createSecretResolver({
  name,
  source,
  fetch,
  region,
}: SecretResolverOptions): () => Promise<string> {
  let cached: Promise<string> | undefined;

  async function resolve(): Promise<string> {
    if (!source) throw new SecretUnavailableError(`${name} is not configured`);
    if ("value" in source) {
      if (!source.value) throw new SecretUnavailableError(`${name} is empty`);
      return source.value;
    }
    const read = fetch ?? secretsManagerFetcher(region);
    let value: string | Uint8Array | undefined;
    try {
      value = await read(source.secretId);
    } catch (error) {
      throw new SecretUnavailableError(`${name} could not be read from Secrets Manager`, { cause: error });
    }
    if (typeof value !== "string" || value.length === 0) {
      throw new SecretUnavailableError(`${name} in Secrets Manager must be a non-empty SecretString`);
    }
    return value;
  }

  return () => {
    cached ??= resolve().catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
    return cached;
  };
}

function secretsManagerFetcher(region: string | undefined): SecretFetcher {
  const provider = new SecretsProvider(region ? { clientConfig: { region } } : {});
  return (secretId) => provider.get(secretId);
}
