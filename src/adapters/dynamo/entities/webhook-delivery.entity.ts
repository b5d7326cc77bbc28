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
    result: { type: ["processed", "rejected", "ignored"] as const, required: true },
    reason: { type: "string" },
    received_at: { type: "string", required: true },
    /** SHA-256 of the raw body (lowercase hex), when the receiver sent it. */
    body_sha256: { type: "string" },
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

/**
 * `DELIVERY_BODY#<SHA-256 of the raw body>` / `DELIVERY_BODY`: which delivery id first finished with
 * this exact body. `X-GitHub-Delivery` is not signed, so a captured body replayed under a new id would
 * pass the id check; the body is what GitHub signs. Written in the same transaction as the delivery's
 * own item, i.e. only after its work is done, so a delivery that failed half-way claims nothing and
 * is retried (same id) exactly as before. Expires with the delivery item.
 */
export const webhookBodySchema = {
  model: { entity: "webhook_body", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: {
      type: ["WEBHOOK_BODY"] as const,
      required: true,
      default: "WEBHOOK_BODY",
      readOnly: true,
    },
    body_sha256: { type: "string", required: true, readOnly: true },
    /** The delivery that claimed the body. */
    delivery_id: { type: "string", required: true },
    event: { type: "string", required: true },
    received_at: { type: "string", required: true },
    [TABLE.ttlAttribute]: { type: "number", required: true },
  },
  indexes: {
    primary: {
      pk: {
        field: "PK",
        composite: ["body_sha256"],
        template: "DELIVERY_BODY#${body_sha256}",
        casing: "none",
      },
      sk: { field: "SK", composite: [], template: "DELIVERY_BODY", casing: "none" },
    },
  },
} as const;
