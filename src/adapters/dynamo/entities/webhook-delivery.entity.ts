import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/** `DELIVERY#<X-GitHub-Delivery>` / `DELIVERY`: claimed once per delivery, expired by TTL. */
export const webhookDeliverySchema = {
  model: { entity: "webhook_delivery", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: {
      type: ["WEBHOOK_DELIVERY"] as const,
      required: true,
      default: "WEBHOOK_DELIVERY",
      readOnly: true,
    },
    delivery_id: { type: "string", required: true, readOnly: true },
    event: { type: "string", required: true },
    action: { type: "string" },
    result: { type: ["processed", "rejected"] as const, required: true },
    reason: { type: "string" },
    received_at: { type: "string", required: true },
    /** Epoch seconds; DynamoDB TTL deletes the item after it. */
    [TABLE.ttlAttribute]: { type: "number", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["delivery_id"], template: "DELIVERY#${delivery_id}", casing: "none" },
      sk: { field: "SK", composite: [], template: "DELIVERY", casing: "none" },
    },
  },
} as const;
