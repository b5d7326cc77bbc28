import { type DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { ConflictError, NotFoundError } from "../../domain/errors.js";
import type { SecretRotation, VerificationSecrets } from "../../ports/agent-repository.js";
import type { SecretCipher } from "../crypto/secret-envelope.js";
import { isConditionalCheckFailed, RETRYABLE_TRANSACTION_CODES } from "./dynamo-errors.js";
import type { MarketplaceService } from "./marketplace-service.js";

export interface AgentSecretRepositoryOptions {
  service: MarketplaceService;
  /** Seals and opens secrets, bound to the agent id. */
  secrets: SecretCipher;
  now?: () => Date;
}

/** An `AGENT#<id>` / `SECRET` item as stored (see agent-secret.entity.ts). */
export interface StoredAgentSecret {
  agent_id: string;
  secret_ciphertext?: string;
  previous_secret_ciphertext?: string;
  previous_valid_until?: string;
  /** Legacy plaintext (items written before encryption at rest). */
  secret?: string;
  rotated_at: string;
}

/** How many times a read that finds its legacy item changed underneath it reads again. */
const LEGACY_READ_ATTEMPTS = 3;

/**
 * The encrypted bid-signing secrets of agents: sealing for the registration transaction, rotation
 * with an overlap for the previous secret, reads that decrypt (and re-encrypt a legacy plaintext item
 * on first use). Nothing here logs, and no error message carries a secret.
 */
export function createAgentSecretRepository({
  service,
  secrets,
  now = () => new Date(),
}: AgentSecretRepositoryOptions) {
  const { agentSecret } = service.entities;

  async function read(agentId: string): Promise<StoredAgentSecret | undefined> {
    const { data } = await agentSecret.get({ agent_id: agentId }).go({ consistent: true });
    return data ?? undefined;
  }

  /**
   * Seals a legacy item's plaintext and writes it back, removing the plaintext. Conditioned on the
   * item being unchanged since it was read (a rotation puts a new item without `secret`), so a
   * concurrent rotation is never overwritten. False when the item had changed.
   */
  async function encryptLegacy(item: StoredAgentSecret & { secret: string }): Promise<boolean> {
    const sealed = await secrets.seal(item.agent_id, item.secret);
    try {
      await agentSecret
        .patch({ agent_id: item.agent_id })
        .set({ secret_ciphertext: sealed })
        .remove(["secret"])
        .where(
          (attr, { eq, exists, notExists }) =>
            `${exists(attr.secret)} AND ${notExists(attr.secret_ciphertext)} AND ${eq(attr.rotated_at, item.rotated_at)}`,
        )
        .go({ response: "none" });
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /**
   * The item with a sealed current secret, re-encrypting a legacy one first. `legacyPlaintext` is
   * the secret that was just encrypted (so it need not be decrypted again).
   */
  async function readSealed(
    agentId: string,
  ): Promise<{ item: StoredAgentSecret; legacyPlaintext?: string } | undefined> {
    for (let attempt = 1; attempt <= LEGACY_READ_ATTEMPTS; attempt++) {
      const item = await read(agentId);
      if (!item) return undefined;
      if (item.secret_ciphertext !== undefined) return { item };
      if (item.secret === undefined) {
        throw new Error(`The secret item of agent ${agentId} holds no secret`);
      }
      if (await encryptLegacy({ ...item, secret: item.secret })) {
        return { item, legacyPlaintext: item.secret };
      }
    }
    throw new ConflictError(`The bid secret of agent ${agentId} kept changing while it was read`);
  }

  return {
    /** The stored value of a new agent's secret, for its registration transaction. */
    seal: (agentId: string, secret: string) => secrets.seal(agentId, secret),

    encryptLegacy,

    async current(agentId: string): Promise<string | undefined> {
      const found = await readSealed(agentId);
      if (!found) return undefined;
      const { item, legacyPlaintext } = found;
      return legacyPlaintext ?? secrets.open(agentId, item.secret_ciphertext as string);
    },

    async forVerification(agentId: string): Promise<VerificationSecrets | undefined> {
      const found = await readSealed(agentId);
      if (!found) return undefined;
      const { item, legacyPlaintext } = found;
      const { previous_secret_ciphertext: previous, previous_valid_until: validUntil } = item;
      const [current, previousSecret] = await Promise.all([
        legacyPlaintext ?? secrets.open(agentId, item.secret_ciphertext as string),
        previous !== undefined && validUntil !== undefined ? secrets.open(agentId, previous) : undefined,
      ]);
      return {
        current,
        ...(previousSecret !== undefined && validUntil !== undefined
          ? { previous: { secret: previousSecret, valid_until: validUntil } }
          : {}),
      };
    },

    /**
     * Makes `secret` current; the one it replaces (re-sealed if it was a legacy plaintext) moves to
     * the previous slot until now + `overlapSeconds`, replacing an older previous one. The write is
     * conditioned on the item read, so of two concurrent rotations one fails with ConflictError
     * instead of silently dropping the other's secret.
     */
    async rotate(agentId: string, secret: string, overlapSeconds: number): Promise<SecretRotation> {
      const at = now();
      const item = await read(agentId);
      const sealed = await secrets.seal(agentId, secret);
      const replaced =
        item?.secret_ciphertext ??
        (item?.secret !== undefined ? await secrets.seal(agentId, item.secret) : undefined);
      const validUntil =
        replaced !== undefined && overlapSeconds > 0
          ? new Date(at.getTime() + overlapSeconds * 1000).toISOString()
          : undefined;
      const result = await service.transaction
        .write(({ agentProfile: profiles, agentSecret: items }) => [
          profiles
            .check({ agent_id: agentId })
            .where((attr, { exists }) => exists(attr.agent_id))
            .commit(),
          items
            .put({
              agent_id: agentId,
              secret_ciphertext: sealed,
              rotated_at: at.toISOString(),
              ...(replaced !== undefined && validUntil !== undefined
                ? { previous_secret_ciphertext: replaced, previous_valid_until: validUntil }
                : {}),
            })
            .where((attr, { eq, notExists }) =>
              !item
                ? notExists(attr.rotated_at)
                : item.secret_ciphertext !== undefined
                  ? eq(attr.secret_ciphertext, item.secret_ciphertext)
                  : `${notExists(attr.secret_ciphertext)} AND ${eq(attr.rotated_at, item.rotated_at)}`,
            )
            .commit(),
        ])
        .go();
      if (result.canceled) {
        if (result.data[0]?.code === "ConditionalCheckFailed") throw new NotFoundError("agent", agentId);
        if (result.data.some((d) => RETRYABLE_TRANSACTION_CODES.has(d.code))) {
          throw new ConflictError(`The bid secret of agent ${agentId} was rotated concurrently; try again`);
        }
        throw new Error(
          `Agent ${agentId}: secret rotation cancelled: ${result.data.map((d) => d.code).join(",")}`,
        );
      }
      return validUntil !== undefined ? { previous_valid_until: validUntil } : {};
    },
  };
}

export type AgentSecretRepository = ReturnType<typeof createAgentSecretRepository>;

/** What {@link encryptPlaintextSecrets} found and did. */
export interface PlaintextSecretsReport {
  /** Items the Scan read (every item of the table). */
  scanned: number;
  /** Agent secret items among them. */
  secretItems: number;
  /** Legacy plaintext items encrypted now. */
  encrypted: number;
  /** Items that were already ciphertext only. */
  alreadyEncrypted: number;
  /** Plaintext left beside a ciphertext (never written by this code), removed now. */
  plaintextRemoved: number;
  /** Items that changed between the Scan and the write (a rotation: already encrypted by it). */
  changed: number;
}

export interface EncryptPlaintextSecretsOptions {
  client: DynamoDBDocumentClient;
  table: string;
  secrets: AgentSecretRepository;
  service: MarketplaceService;
  /** Items per Scan page (before the filter). */
  pageSize?: number;
  /** Called after each page with the running totals. */
  onPage?: (report: PlaintextSecretsReport) => void;
}

/**
 * The one-off migration behind `npm run secrets:encrypt`: pages through the whole table with a
 * filtered Scan (the only Scan in the code base: a one-off, run by an operator) and re-encrypts every
 * agent secret item still holding plaintext. Idempotent: a second run finds nothing to do.
 */
export async function encryptPlaintextSecrets({
  client,
  table,
  secrets,
  service,
  pageSize = 500,
  onPage,
}: EncryptPlaintextSecretsOptions): Promise<PlaintextSecretsReport> {
  const report: PlaintextSecretsReport = {
    scanned: 0,
    secretItems: 0,
    encrypted: 0,
    alreadyEncrypted: 0,
    plaintextRemoved: 0,
    changed: 0,
  };
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: table,
        Limit: pageSize,
        ConsistentRead: true,
        FilterExpression: "#type = :type AND #entity = :entity",
        ExpressionAttributeNames: { "#type": "type", "#entity": "__edb_e__" },
        ExpressionAttributeValues: { ":type": "AGENT_SECRET", ":entity": "agent_secret" },
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    report.scanned += page.ScannedCount ?? 0;
    for (const raw of page.Items ?? []) {
      const item = raw as StoredAgentSecret;
      report.secretItems += 1;
      if (item.secret === undefined) {
        report.alreadyEncrypted += 1;
      } else if (item.secret_ciphertext !== undefined) {
        try {
          await service.entities.agentSecret
            .patch({ agent_id: item.agent_id })
            .remove(["secret"])
            .where((attr, { exists }) => exists(attr.secret_ciphertext))
            .go({ response: "none" });
          report.plaintextRemoved += 1;
        } catch (error) {
          if (!isConditionalCheckFailed(error)) throw error;
          report.changed += 1;
        }
      } else if (await secrets.encryptLegacy({ ...item, secret: item.secret })) {
        report.encrypted += 1;
      } else {
        report.changed += 1;
      }
    }
    startKey = page.LastEvaluatedKey;
    onPage?.({ ...report });
  } while (startKey);
  return report;
}
