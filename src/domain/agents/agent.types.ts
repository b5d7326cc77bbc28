import type { AuditLevel } from "../governance/governance.types.js";
import type { AgentStatus, CostModel, EndpointKind } from "./agent.schema.js";
import type { PerformanceHistory, PerformanceTotals } from "./performance.js";

/** An agent profile as stored at `AGENT#<agent_id>` / `PROFILE`. */
export interface AgentProfile {
  type: "AGENT_PROFILE";
  agent_id: string;
  capabilities: string[];
  cost_model: CostModel;
  bidding_endpoint: string;
  endpoint_kind: EndpointKind;
  status: AgentStatus;
  kill_switch_active: boolean;
  /** Who flipped the kill switch last (`api:<actor>`), why, and when. */
  kill_switch_changed_by?: string;
  kill_switch_reason?: string;
  kill_switch_changed_at?: string;
  /** Who made the last registration change: `operator:<name>` or `agent:<id>`. */
  updated_by?: string;
  /** Where escrow pays out. */
  wallet_address?: string;
  /** Written back by governance; absent until the agent is first scored (see domain/governance/trust.ts). */
  trust_score?: number;
  audit_level?: AuditLevel;
  trust_updated_at?: string;
  performance_history: PerformanceHistory;
  performance_totals: PerformanceTotals;
  version: number;
  created_at: string;
  updated_at: string;
}

/** Fields only governance writes (without a version bump), never part of a registration change. */
export const GOVERNANCE_PROFILE_FIELDS = ["trust_score", "audit_level", "trust_updated_at"] as const;

/** What a capability query returns per agent, read from its capability edge alone. */
export interface AgentListing {
  agent_id: string;
  capabilities: string[];
  cost_model: CostModel;
  bidding_endpoint: string;
  endpoint_kind: EndpointKind;
}

/** May this agent be invited to bid? */
export function isListed(profile: Pick<AgentProfile, "status" | "kill_switch_active">): boolean {
  return profile.status === "active" && !profile.kill_switch_active;
}
