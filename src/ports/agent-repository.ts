import type { AgentRegistration } from "../domain/agents/agent.schema.js";
import type { AgentListing, AgentProfile } from "../domain/agents/agent.types.js";
import type { AuditLevel } from "../domain/governance/governance.types.js";
import type { Page, PageRequest } from "./pagination.js";

/** Who flipped a kill switch and why. */
export interface KillSwitchChange {
  /** `operator:<name>`; never a secret. */
  actor: string;
  reason?: string;
}

/** The stored half of an agent API key: its hash, never the key. */
export interface StoredApiKey {
  key_id: string;
  agent_id: string;
  key_hash: string;
  created_at: string;
  /** Set once the key is rotated out: it fails after this instant. */
  not_after?: string;
}

export interface NewApiKey {
  keyId: string;
  keyHash: string;
}

export interface RegistrationOptions {
  /** A new agent's bid-signing secret. */
  secretIfNew?: string;
  /** A new agent's first API key (created in the same transaction as the profile). */
  apiKeyIfNew?: NewApiKey;
  /** Who made the change (`operator:<name>` / `agent:<id>`), stored on the profile as `updated_by`. */
  actor?: string;
}

/** The secrets that may have signed a message from this agent. */
export interface VerificationSecrets {
  current: string;
  /** The secret replaced by the last rotation, while its overlap lasts (ISO instant, exclusive end). */
  previous?: { secret: string; valid_until: string };
}

/** What a bid-secret rotation did. */
export interface SecretRotation {
  /**
   * End of the replaced secret's overlap (ISO instant, exclusive): until then messages signed with it
   * still verify. Absent when there was no secret to replace or the overlap is 0.
   */
  previous_valid_until?: string;
}

/**
 * Persistence for agent profiles and their capability edges. Bid-signing secrets are stored
 * encrypted; implementations decrypt them only for the calls below that return them.
 */
export interface AgentRepository {
  getProfile(agentId: string): Promise<AgentProfile | undefined>;

  /**
   * Creates the agent or replaces its registration fields, keeping capability edges in sync in the
   * same transaction (edges for dropped capabilities are deleted), with the per-capability listed
   * counts. A new agent also gets `secretIfNew` as its bid-signing secret, returned as `secret`.
   * Performance data is untouched.
   */
  saveRegistration(
    registration: AgentRegistration,
    options?: RegistrationOptions,
  ): Promise<{ profile: AgentProfile; created: boolean; secret?: string; apiKeyCreated?: boolean }>;

  /**
   * Makes `next` the agent's current API key. The previous one keeps authenticating until
   * `overlapSeconds` from now, then fails. Throws NotFoundError for an unknown agent.
   */
  rotateApiKey(agentId: string, next: NewApiKey, overlapSeconds: number): Promise<void>;

  /** A stored API key by its public key id (strongly consistent), or undefined. */
  getApiKey(keyId: string): Promise<StoredApiKey | undefined>;

  /**
   * Makes `secret` the agent's bid-signing secret. The one it replaces keeps verifying for
   * `overlapSeconds` from now (it moves to the previous slot, replacing any older one). Throws
   * NotFoundError for an unknown agent and ConflictError when another rotation won the race.
   */
  rotateSecret(agentId: string, secret: string, overlapSeconds: number): Promise<SecretRotation>;

  /**
   * The agent's current bid-signing secret (for signing what we send), if the agent exists. Never
   * log or return it elsewhere.
   */
  getSecret(agentId: string): Promise<string | undefined>;

  /**
   * Current and (while within its overlap) previous secret, for verifying what the agent sent.
   * `previous` may be returned past its `valid_until` (the caller compares it with the message's
   * queue time), and is absent when there is none.
   */
  getVerificationSecrets(agentId: string): Promise<VerificationSecrets | undefined>;

  /** Profiles by id with strongly consistent reads (missing ids are absent from the map). */
  getProfiles(agentIds: string[]): Promise<Map<string, AgentProfile>>;

  /** Listed (bid-eligible) agents per capability, from the exact counters. */
  listedCounts(capabilities: string[]): Promise<Map<string, number>>;

  /**
   * Sets the kill switch; a killed agent leaves every capability listing at once. `change` says who
   * did it and why; it is stored on the profile and reaches the audit log through the table's stream.
   */
  setKillSwitch(agentId: string, active: boolean, change: KillSwitchChange): Promise<AgentProfile>;

  /**
   * Writes governance's trust score and tier onto the profile. Touches no other attribute and does
   * not bump `version`, so it never conflicts with registration or ledger writes. Throws NotFoundError
   * for an unknown agent.
   */
  setTrust(agentId: string, trust: { trust_score: number; audit_level: AuditLevel }): Promise<void>;

  /** Agents that may bid and have `capability`, ordered by agent id. Never a Scan. */
  findByCapability(capability: string, page?: PageRequest): Promise<Page<AgentListing>>;
}
