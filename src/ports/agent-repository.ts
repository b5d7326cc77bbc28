import type { AgentRegistration } from "../domain/agents/agent.schema.js";
import type { AgentListing, AgentProfile } from "../domain/agents/agent.types.js";
import type { Page, PageRequest } from "./pagination.js";

/** Persistence for agent profiles and their capability edges. */
export interface AgentRepository {
  getProfile(agentId: string): Promise<AgentProfile | undefined>;

  /**
   * Creates the agent or replaces its registration fields, keeping capability edges in sync in the
   * same transaction (edges for dropped capabilities are deleted). Performance data is untouched.
   */
  saveRegistration(registration: AgentRegistration): Promise<{ profile: AgentProfile; created: boolean }>;

  /** Sets the kill switch; a killed agent leaves every capability listing at once. */
  setKillSwitch(agentId: string, active: boolean): Promise<AgentProfile>;

  /** Agents that may bid and have `capability`, ordered by agent id. Never a Scan. */
  findByCapability(capability: string, page?: PageRequest): Promise<Page<AgentListing>>;
}
