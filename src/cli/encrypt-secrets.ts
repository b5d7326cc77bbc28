import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { createBidSecretCipher } from "../adapters/crypto/bid-secret-cipher.js";
import type { KmsClientLike } from "../adapters/crypto/kms-key-wrapper.js";
import {
  createAgentSecretRepository,
  encryptPlaintextSecrets,
  type PlaintextSecretsReport,
} from "../adapters/dynamo/agent-secret.repository.js";
import { createDocumentClient, createDynamoClient } from "../adapters/dynamo/client.js";
import { createMarketplaceService } from "../adapters/dynamo/marketplace-service.js";
import type { BidSecretKeySource } from "../config.js";
import { BID_SECRET_KEY_FILE, readEndpoints } from "../local/stack-files.js";

export const ENCRYPT_SECRETS_USAGE = `usage: npm run secrets:encrypt -- --table <name> --kms-key-id <key id or ARN> [--region <r>]
       npm run secrets:encrypt -- --data-dir <dir>          (a running local stack: its table and key file)
       npm run secrets:encrypt -- --table <name> --endpoint <url> --key-file <path>

Re-encrypts every agent secret item that still holds its bid secret in plain text (attribute
"secret") with the bid-secret key, and removes the plain text. Idempotent; prints counts.
Options default to $TABLE_NAME, $BID_SECRET_KMS_KEY_ID, $BID_SECRET_KEY_FILE, $DYNAMODB_ENDPOINT
and $AWS_REGION. It Scans the whole table: the credentials need dynamodb:Scan and
dynamodb:UpdateItem on it, and kms:GenerateDataKey on the key.`;

export interface EncryptSecretsIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** A KMS client to use instead of a new one (tests). */
  kms?: KmsClientLike;
}

class UsageProblem extends Error {}

interface Target {
  table: string;
  endpoint?: string;
  region?: string;
  key: BidSecretKeySource;
}

function targetFrom(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): Target & { pageSize?: number } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        table: { type: "string" },
        "kms-key-id": { type: "string" },
        "key-file": { type: "string" },
        endpoint: { type: "string" },
        region: { type: "string" },
        "data-dir": { type: "string" },
        "page-size": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    throw new UsageProblem((error as Error).message);
  }
  if (values.help) throw new UsageProblem("");
  const option = (name: string) => {
    const value = values[name];
    return typeof value === "string" && value !== "" ? value : undefined;
  };
  const pageSizeText = option("page-size");
  const pageSize = pageSizeText !== undefined ? Number(pageSizeText) : undefined;
  if (pageSize !== undefined && !(Number.isInteger(pageSize) && pageSize > 0)) {
    throw new UsageProblem("--page-size must be a positive integer");
  }
  const paging = pageSize !== undefined ? { pageSize } : {};

  const dataDir = option("data-dir");
  if (dataDir !== undefined) {
    const endpoints = readEndpoints(resolve(dataDir));
    return {
      table: option("table") ?? endpoints.table_name,
      endpoint: endpoints.dynamodb_endpoint,
      region: endpoints.region,
      key: { file: option("key-file") ?? join(resolve(dataDir), BID_SECRET_KEY_FILE) },
      ...paging,
    };
  }
  const table = option("table") ?? env.TABLE_NAME;
  if (!table) throw new UsageProblem("--table (or TABLE_NAME) is required");
  const kmsKeyId = option("kms-key-id") ?? (option("key-file") ? undefined : env.BID_SECRET_KMS_KEY_ID);
  const keyFile = option("key-file") ?? (kmsKeyId ? undefined : env.BID_SECRET_KEY_FILE);
  if (kmsKeyId && keyFile) throw new UsageProblem("give --kms-key-id or --key-file, not both");
  if (!kmsKeyId && !keyFile) {
    throw new UsageProblem("--kms-key-id (or BID_SECRET_KMS_KEY_ID) or --key-file is required");
  }
  const endpoint = option("endpoint") ?? env.DYNAMODB_ENDPOINT;
  const region = option("region") ?? env.AWS_REGION;
  return {
    table,
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    key: kmsKeyId ? { kmsKeyId } : { file: keyFile as string },
    ...paging,
  };
}

function summary(table: string, r: PlaintextSecretsReport): string {
  return (
    `${table}: scanned ${r.scanned} items, ${r.secretItems} agent secrets: ${r.encrypted} encrypted now, ` +
    `${r.alreadyEncrypted} already encrypted, ${r.plaintextRemoved} stray plain texts removed, ` +
    `${r.changed} changed meanwhile (rotated: already encrypted)`
  );
}

/**
 * `npm run secrets:encrypt`: the one-off re-encryption of bid secrets stored in plain text before
 * encryption at rest (reads also re-encrypt them on first use; this reaches agents that are never
 * read). Exit code 0 when done, 1 when it failed part-way (run it again: it is idempotent), 2 for
 * usage errors.
 */
export async function runEncryptSecrets(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  io: EncryptSecretsIo,
): Promise<number> {
  let target: ReturnType<typeof targetFrom>;
  try {
    target = targetFrom(argv, env);
  } catch (error) {
    if (!(error instanceof UsageProblem)) {
      io.err(`secrets encrypt: ${(error as Error).message}`);
      return 1;
    }
    if (error.message) io.err(`secrets encrypt: ${error.message}`);
    io.err(ENCRYPT_SECRETS_USAGE);
    return error.message ? 2 : 0;
  }
  const raw = createDynamoClient({
    ...(target.endpoint ? { endpoint: target.endpoint } : {}),
    ...(target.region ? { region: target.region } : {}),
  });
  try {
    const client = createDocumentClient(raw);
    const service = createMarketplaceService({ client, table: target.table });
    const cipher = createBidSecretCipher({
      source: target.key,
      local: "file" in target.key,
      ...(target.region ? { region: target.region } : {}),
      ...(io.kms ? { kms: io.kms } : {}),
    });
    const report = await encryptPlaintextSecrets({
      client,
      table: target.table,
      service,
      secrets: createAgentSecretRepository({ service, secrets: cipher }),
      ...(target.pageSize ? { pageSize: target.pageSize } : {}),
      onPage: (progress) => io.err(`… ${progress.scanned} items scanned, ${progress.encrypted} encrypted`),
    });
    io.out(summary(target.table, report));
    return 0;
  } catch (error) {
    io.err(`secrets encrypt: ${(error as Error).message} (it is safe to run again)`);
    return 1;
  } finally {
    raw.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await runEncryptSecrets(process.argv.slice(2), process.env, {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  });
}
