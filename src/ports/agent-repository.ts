import type { AgentRegistration } from "../domain/agents/agent.schema.js";
import type { AgentListing, AgentProfile } from "../domain/agents/agent.types.js";
import type { AuditLevel } from "../domain/governance/governance.types.js";
import type { Page, PageRequest } from "./pagination.js";

/** Who flipped a kill switch and why. */
export interface KillSwitchChange {
  /** e.g. `api:alice`; never a secret. */
  actor: string;
  reason?: string;
}

/** Persistence for agent profiles and their capability edges. */
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
    options?: { secretIfNew?: string },
  ): Promise<{ profile: AgentProfile; created: boolean; secret?: string }>;

  /** Replaces the agent's bid-signing secret. Throws NotFoundError for an unknown agent. */
  rotateSecret(agentId: string, secret: string): Promise<void>;

  /** The agent's bid-signing secret, if the agent exists. Never log or return it elsewhere. */
  getSecret(agentId: string): Promise<string | undefined>;

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
