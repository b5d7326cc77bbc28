import { COST_MODELS } from "../../../domain/agents/agent.schema.js";
import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

const gsi = TABLE.globalIndexes.byCapability;

/**
 * `AGENT#<agent_id>` / `CAP#<capability>`. Carries the agent's listing so a capability query needs
 * no profile reads. The GSI1 keys exist only while `listed` (active and not kill-switched), so a
 * suspended or killed agent vanishes from every capability query in the same transaction.
 */
export const capabilityEdgeSchema = {
  model: { entity: "capability_edge", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["CAPABILITY_EDGE"] as const, required: true, default: "CAPABILITY_EDGE", readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    capability: { type: "string", required: true, readOnly: true },
    capabilities: { type: "set", items: "string", required: true },
    cost_model: { type: COST_MODELS, required: true },
    bidding_endpoint: { type: "string", required: true },
    endpoint_kind: { type: ["sqs", "https"] as const, required: true },
    listed: { type: "boolean", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["agent_id"], template: "AGENT#${agent_id}", casing: "none" },
      sk: { field: "SK", composite: ["capability"], template: "CAP#${capability}", casing: "none" },
    },
    byCapability: {
      index: gsi.indexName,
      condition: (attributes: Record<string, unknown>) => attributes.listed === true,
      pk: {
        field: gsi.partitionKey,
        composite: ["capability"],
        template: "CAP#${capability}",
        casing: "none",
      },
      sk: { field: gsi.sortKey, composite: ["agent_id"], template: "AGENT#${agent_id}", casing: "none" },
    },
  },
} as const;
