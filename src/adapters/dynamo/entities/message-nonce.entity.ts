import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/**
 * `NONCE#<agent_id>#<nonce>` / `NONCE`: one per signed agent message, claimed with a conditional put
 * so that a second message with the same nonce is a REPLAY. Each nonce is its own partition, so a
 * busy agent spreads over the table and no read of the agent's partition ever meets them. TTL
 * outlives the skew window: past it the message would be STALE anyway.
 */
export const messageNonceSchema = {
  model: { entity: "message_nonce", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["MESSAGE_NONCE"] as const, required: true, default: "MESSAGE_NONCE", readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    nonce: { type: "string", required: true, readOnly: true },
    /** The SQS message that claimed it: a redelivery of that same message is not a replay. */
    message_id: { type: "string", required: true, readOnly: true },
    /** The message's own `sent_at`. */
    sent_at: { type: "string", required: true, readOnly: true },
    [TABLE.ttlAttribute]: { type: "number", required: true },
  },
  indexes: {
    primary: {
      pk: {
        field: "PK",
        composite: ["agent_id", "nonce"],
        template: "NONCE#${agent_id}#${nonce}",
        casing: "none",
      },
      sk: { field: "SK", composite: [], template: "NONCE", casing: "none" },
    },
  },
} as const;
