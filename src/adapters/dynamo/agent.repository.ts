import type { AgentRegistration } from "../../domain/agents/agent.schema.js";
import {
  type AgentListing,
  type AgentProfile,
  type GOVERNANCE_PROFILE_FIELDS,
  isListed,
} from "../../domain/agents/agent.types.js";
import { deriveHistory, ZERO_TOTALS } from "../../domain/agents/performance.js";
import { ConflictError, NotFoundError } from "../../domain/errors.js";
import type {
  AgentRepository,
  NewApiKey,
  RegistrationOptions,
  StoredApiKey,
} from "../../ports/agent-repository.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page, type PageRequest } from "../../ports/pagination.js";
import type { SecretCipher } from "../crypto/secret-envelope.js";
import { createAgentSecretRepository } from "./agent-secret.repository.js";
import {
  checkCursor,
  isConditionalCheckFailed,
  RETRYABLE_TRANSACTION_CODES,
  RetryableConflict,
  rethrowCursorError,
  withOptimisticRetry,
} from "./dynamo-errors.js";
import type { MarketplaceService } from "./marketplace-service.js";
import { TABLE } from "./table-definition.js";

const TTL = TABLE.ttlAttribute;
/** A rotated-out key item is kept a day past its overlap (for investigation), then expires. */
const KEY_TTL_GRACE_SECONDS = 24 * 3600;

export interface AgentRepositoryOptions {
  service: MarketplaceService;
  /** Encrypts bid-signing secrets at rest (bound to the agent id); nothing is stored in clear. */
  secrets: SecretCipher;
  now?: () => Date;
}

type ProfileChange = Omit<
  AgentProfile,
  | "type"
  | "version"
  | "created_at"
  | "updated_at"
  | "performance_history"
  | "performance_totals"
  | (typeof GOVERNANCE_PROFILE_FIELDS)[number]
>;

/** DynamoDB (ElectroDB) implementation of {@link AgentRepository}. */
export function createAgentRepository({
  service,
  secrets,
  now = () => new Date(),
}: AgentRepositoryOptions): AgentRepository {
  const { agentProfile, capabilityEdge, capabilityStats, agentApiKey, agentKeyRef } = service.entities;
  const agentSecrets = createAgentSecretRepository({ service, secrets, now });

  async function readProfile(agentId: string): Promise<AgentProfile | undefined> {
    const { data } = await agentProfile.get({ agent_id: agentId }).go({ consistent: true });
    return (data as AgentProfile | null) ?? undefined;
  }

  /**
   * Writes `change` over `current` (or creates the profile) and rewrites the capability edges in the
   * same transaction: edges are derived from the profile, so they can never disagree with it.
   */
  async function writeProfile(
    current: AgentProfile | undefined,
    change: ProfileChange,
    extras: Pick<RegistrationOptions, "apiKeyIfNew"> & { newSealedSecret?: string } = {},
  ): Promise<AgentProfile> {
    const { newSealedSecret, apiKeyIfNew } = extras;
    const timestamp = now().toISOString();
    const listed = isListed(change);
    const removed = current ? current.capabilities.filter((c) => !change.capabilities.includes(c)) : [];
    const next: AgentProfile = current
      ? { ...current, ...change, version: current.version + 1, updated_at: timestamp }
      : {
          type: "AGENT_PROFILE",
          ...change,
          performance_totals: { ...ZERO_TOTALS },
          performance_history: deriveHistory(ZERO_TOTALS),
          version: 1,
          created_at: timestamp,
          updated_at: timestamp,
        };
    const { agent_id, ...fields } = change;
    // Listed-agent counts per capability move in the same transaction as the edges they count.
    const before = new Set(current && isListed(current) ? current.capabilities : []);
    const after = new Set(listed ? change.capabilities : []);
    const countChanges = [...new Set([...before, ...after])]
      .map((capability) => ({
        capability,
        delta: (after.has(capability) ? 1 : 0) - (before.has(capability) ? 1 : 0),
      }))
      .filter(({ delta }) => delta !== 0);

    const result = await service.transaction
      .write(
        ({
          agentProfile: profiles,
          capabilityEdge: edges,
          capabilityStats: stats,
          agentSecret: secretItems,
          agentApiKey: keys,
          agentKeyRef: keyRefs,
        }) => [
          current
            ? profiles
                .patch({ agent_id })
                .set({ ...fields, version: next.version, updated_at: timestamp })
                .where((attr, { eq }) => eq(attr.version, current.version))
                .commit()
            : profiles
                .create({
                  agent_id,
                  ...fields,
                  performance_totals: next.performance_totals,
                  performance_history: next.performance_history,
                  version: next.version,
                  created_at: timestamp,
                  updated_at: timestamp,
                })
                .commit(),
          ...change.capabilities.map((capability) =>
            edges
              .put({
                agent_id,
                capability,
                capabilities: change.capabilities,
                cost_model: change.cost_model,
                bidding_endpoint: change.bidding_endpoint,
                endpoint_kind: change.endpoint_kind,
                listed,
              })
              .commit(),
          ),
          ...removed.map((capability) => edges.delete({ agent_id, capability }).commit()),
          ...countChanges.map(({ capability, delta }) =>
            stats.upsert({ capability }).add({ listed_count: delta }).commit(),
          ),
          ...(newSealedSecret !== undefined
            ? [
                secretItems
                  .put({ agent_id, secret_ciphertext: newSealedSecret, rotated_at: timestamp })
                  .commit(),
              ]
            : []),
          ...(apiKeyIfNew !== undefined
            ? [
                keys
                  .create({
                    key_id: apiKeyIfNew.keyId,
                    agent_id,
                    key_hash: apiKeyIfNew.keyHash,
                    created_at: timestamp,
                  })
                  .commit(),
                keyRefs.create({ agent_id, key_id: apiKeyIfNew.keyId, rotated_at: timestamp }).commit(),
              ]
            : []),
        ],
      )
      .go();
    if (result.canceled) {
      const profileWrite = result.data[0];
      if (result.data.some((item) => item.code === "TransactionConflict")) throw new RetryableConflict();
      if (profileWrite && RETRYABLE_TRANSACTION_CODES.has(profileWrite.code)) throw new RetryableConflict();
      throw new Error(
        `Agent ${agent_id}: profile transaction cancelled: ${result.data.map((d) => d.code).join(",")}`,
      );
    }
    return next;
  }

  return {
    getProfile: (agentId) => readProfile(agentId),

    saveRegistration: (registration: AgentRegistration, options: RegistrationOptions = {}) =>
      withOptimisticRetry(`register agent ${registration.agent_id}`, async () => {
        const current = await readProfile(registration.agent_id);
        const secret = current ? undefined : options.secretIfNew;
        const sealedSecret =
          secret !== undefined ? await agentSecrets.seal(registration.agent_id, secret) : undefined;
        const apiKey = current ? undefined : options.apiKeyIfNew;
        const profile = await writeProfile(
          current,
          {
            agent_id: registration.agent_id,
            capabilities: registration.capabilities,
            cost_model: registration.cost_model,
            bidding_endpoint: registration.bidding_endpoint,
            endpoint_kind: registration.endpoint_kind,
            status: registration.status ?? current?.status ?? "active",
            kill_switch_active: current?.kill_switch_active ?? false,
            ...(registration.wallet_address !== undefined || current?.wallet_address !== undefined
              ? { wallet_address: registration.wallet_address ?? current?.wallet_address }
              : {}),
            ...(options.actor !== undefined || current?.updated_by !== undefined
              ? { updated_by: options.actor ?? current?.updated_by }
              : {}),
          },
          {
            ...(sealedSecret !== undefined ? { newSealedSecret: sealedSecret } : {}),
            ...(apiKey ? { apiKeyIfNew: apiKey } : {}),
          },
        );
        return {
          profile,
          created: current === undefined,
          ...(secret !== undefined ? { secret } : {}),
          ...(apiKey ? { apiKeyCreated: true } : {}),
        };
      }),

    rotateSecret: (agentId, secret, overlapSeconds) => agentSecrets.rotate(agentId, secret, overlapSeconds),

    async rotateApiKey(agentId: string, next: NewApiKey, overlapSeconds: number) {
      const at = now();
      const { data: ref } = await agentKeyRef.get({ agent_id: agentId }).go({ consistent: true });
      const notAfter = new Date(at.getTime() + overlapSeconds * 1000);
      const result = await service.transaction
        .write(({ agentProfile: profiles, agentApiKey: keys, agentKeyRef: refs }) => [
          profiles
            .check({ agent_id: agentId })
            .where((attr, { exists }) => exists(attr.agent_id))
            .commit(),
          keys
            .create({
              key_id: next.keyId,
              agent_id: agentId,
              key_hash: next.keyHash,
              created_at: at.toISOString(),
            })
            .commit(),
          // Conditioned on the key read above, so two concurrent rotations cannot both win and leave
          // a key that no reference points to (and no overlap ever ends).
          ref
            ? refs
                .patch({ agent_id: agentId })
                .set({ key_id: next.keyId, rotated_at: at.toISOString() })
                .where((attr, { eq }) => eq(attr.key_id, ref.key_id))
                .commit()
            : refs.create({ agent_id: agentId, key_id: next.keyId, rotated_at: at.toISOString() }).commit(),
          ...(ref
            ? [
                keys
                  .patch({ key_id: ref.key_id })
                  .set({
                    not_after: notAfter.toISOString(),
                    [TTL]: Math.ceil(notAfter.getTime() / 1000) + KEY_TTL_GRACE_SECONDS,
                  })
                  .commit(),
              ]
            : []),
        ])
        .go();
      if (result.canceled) {
        if (result.data[0]?.code === "ConditionalCheckFailed") throw new NotFoundError("agent", agentId);
        if (result.data.some((item) => RETRYABLE_TRANSACTION_CODES.has(item.code))) {
          throw new ConflictError(`API key of agent ${agentId} was rotated concurrently; try again`);
        }
        throw new Error(
          `Agent ${agentId}: API key rotation cancelled: ${result.data.map((d) => d.code).join(",")}`,
        );
      }
    },

    async getApiKey(keyId: string): Promise<StoredApiKey | undefined> {
      const { data } = await agentApiKey.get({ key_id: keyId }).go({ consistent: true });
      if (!data) return undefined;
      return {
        key_id: data.key_id,
        agent_id: data.agent_id,
        key_hash: data.key_hash,
        created_at: data.created_at,
        ...(data.not_after ? { not_after: data.not_after } : {}),
      };
    },

    getSecret: (agentId) => agentSecrets.current(agentId),

    getVerificationSecrets: (agentId) => agentSecrets.forVerification(agentId),

    async getProfiles(agentIds: string[]) {
      if (agentIds.length === 0) return new Map();
      const { data, unprocessed } = await agentProfile
        .get(agentIds.map((agent_id) => ({ agent_id })))
        .go({ consistent: true });
      if (unprocessed.length > 0)
        throw new Error(`Agent profiles: ${unprocessed.length} keys left unprocessed`);
      return new Map((data as AgentProfile[]).map((profile) => [profile.agent_id, profile]));
    },

    async listedCounts(capabilities: string[]) {
      const counts = new Map(capabilities.map((capability) => [capability, 0]));
      if (capabilities.length === 0) return counts;
      const { data } = await capabilityStats.get(capabilities.map((capability) => ({ capability }))).go();
      for (const item of data) counts.set(item.capability, item.listed_count);
      return counts;
    },

    setKillSwitch: (agentId, active, change) =>
      withOptimisticRetry(`kill switch for ${agentId}`, async () => {
        const current = await readProfile(agentId);
        if (!current) throw new NotFoundError("agent", agentId);
        if (current.kill_switch_active === active) return current;
        const {
          type: _type,
          version: _version,
          created_at: _created,
          updated_at: _updated,
          performance_history: _history,
          performance_totals: _totals,
          trust_score: _trust,
          audit_level: _level,
          trust_updated_at: _trustAt,
          ...registration
        } = current;
        return writeProfile(current, {
          ...registration,
          kill_switch_active: active,
          kill_switch_changed_by: change.actor,
          kill_switch_changed_at: now().toISOString(),
          // An empty reason clears the previous one rather than leaving it on the wrong change.
          kill_switch_reason: change.reason ?? "",
        });
      }),

    async setTrust(agentId, trust) {
      try {
        await agentProfile
          .patch({ agent_id: agentId })
          .set({
            trust_score: trust.trust_score,
            audit_level: trust.audit_level,
            trust_updated_at: now().toISOString(),
          })
          .go({ response: "none" });
      } catch (error) {
        if (isConditionalCheckFailed(error)) throw new NotFoundError("agent", agentId);
        throw error;
      }
    },

    async findByCapability(capability: string, page: PageRequest = {}): Promise<Page<AgentListing>> {
      const cursor = checkCursor(page.cursor);
      const limit = Math.min(page.limit ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      try {
        const result = await capabilityEdge.query.byCapability({ capability }).go({ limit, cursor });
        return {
          items: result.data.map(
            ({ agent_id, capabilities, cost_model, bidding_endpoint, endpoint_kind }) => ({
              agent_id,
              capabilities,
              cost_model,
              bidding_endpoint,
              endpoint_kind,
            }),
          ),
          ...(result.cursor ? { cursor: result.cursor } : {}),
        };
      } catch (error) {
        rethrowCursorError(error, cursor !== undefined);
      }
    },
  };
}
