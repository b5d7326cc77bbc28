import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/**
 * `CAP#<capability>` / `STATS`: how many agents are listed for the capability, kept exact by the
 * same transaction that lists or unlists their edges. The dispatcher reads these to query the rarest
 * required capability first.
 */
export const capabilityStatsSchema = {
  model: { entity: "capability_stats", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: {
      type: ["CAPABILITY_STATS"] as const,
      required: true,
      default: "CAPABILITY_STATS",
      readOnly: true,
    },
    capability: { type: "string", required: true, readOnly: true },
    listed_count: { type: "number", required: true, default: 0 },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["capability"], template: "CAP#${capability}", casing: "none" },
      sk: { field: "SK", composite: [], template: "STATS", casing: "none" },
    },
  },
} as const;
