import type { EndpointKind } from "../domain/agents/agent.schema.js";
import type { MarketplaceMessage } from "../domain/bidding/messages.js";

/** Where and how to reach one agent. */
export interface AgentEndpoint {
  agent_id: string;
  bidding_endpoint: string;
  endpoint_kind: EndpointKind;
}

/**
 * Delivers one marketplace message to one agent's endpoint, signed with the agent's secret.
 * Throws on failure; callers retry with backoff and record the result per agent.
 */
export interface EndpointSender {
  send(endpoint: AgentEndpoint, message: MarketplaceMessage, secret: string): Promise<void>;
}
