import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/**
 * `AGENT#<agent_id>` / `SECRET`: the agent's bid-signing secret, kept off the profile so that no
 * profile read or capability query ever carries it. It is stored as plain text (DynamoDB encrypts at
 * rest), so the table stream and backups do contain it; envelope encryption with KMS is the next step.
 */
export const agentSecretSchema = {
  model: { entity: "agent_secret", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["AGENT_SECRET"] as const, required: true, default: "AGENT_SECRET", readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    secret: { type: "string", required: true },
    rotated_at: { type: "string", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["agent_id"], template: "AGENT#${agent_id}", casing: "none" },
      sk: { field: "SK", composite: [], template: "SECRET", casing: "none" },
    },
  },
} as const;
