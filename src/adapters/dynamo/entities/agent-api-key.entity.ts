import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/**
 * `APIKEY#<key id>` / `APIKEY`: one agent API key, found by the public key id in the key itself.
 * Holds only the SHA-256 of the key. A rotated-out key gets `not_after` (the end of its overlap) and a
 * TTL a day later, so DynamoDB removes it; the check uses `not_after`, never the TTL's timing.
 */
export const agentApiKeySchema = {
  model: { entity: "agent_api_key", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["AGENT_API_KEY"] as const, required: true, default: "AGENT_API_KEY", readOnly: true },
    key_id: { type: "string", required: true, readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    key_hash: { type: "string", required: true, readOnly: true },
    created_at: { type: "string", required: true, readOnly: true },
    /** ISO instant after which the key no longer authenticates (set when it is rotated out). */
    not_after: { type: "string" },
    /** Epoch seconds; DynamoDB TTL deletes a rotated-out key after it. */
    [TABLE.ttlAttribute]: { type: "number" },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["key_id"], template: "APIKEY#${key_id}", casing: "none" },
      sk: { field: "SK", composite: [], template: "APIKEY", casing: "none" },
    },
  },
} as const;

/** `AGENT#<agent_id>` / `APIKEY`: which key is the agent's current one (rotation moves it). */
export const agentKeyRefSchema = {
  model: { entity: "agent_key_ref", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["AGENT_KEY_REF"] as const, required: true, default: "AGENT_KEY_REF", readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    key_id: { type: "string", required: true },
    rotated_at: { type: "string", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["agent_id"], template: "AGENT#${agent_id}", casing: "none" },
      sk: { field: "SK", composite: [], template: "APIKEY", casing: "none" },
    },
  },
} as const;
