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
  performance_history: PerformanceHistory;
  performance_totals: PerformanceTotals;
  version: number;
  created_at: string;
  updated_at: string;
}

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
