import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/** Longest `last_error` stored (characters); longer errors are cut. */
export const CIRCUIT_ERROR_MAX_LENGTH = 512;

/**
 * `AGENT#<agent_id>` / `CIRCUIT`: the circuit breaker of deliveries to the agent's endpoint (see
 * src/ports/endpoint-circuit.ts and endpoint-circuit.repository.ts). One per agent, for the endpoint
 * named in it: a delivery to another endpoint (the agent re-registered) finds it closed, and its
 * first result starts the item afresh for that endpoint. Governance follows it on the stream
 * (CLOSED → OPEN: the endpoint is down; OPEN → CLOSED: it is back).
 */
export const endpointCircuitSchema = {
  model: { entity: "endpoint_circuit", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: {
      type: ["ENDPOINT_CIRCUIT"] as const,
      required: true,
      default: "ENDPOINT_CIRCUIT",
      readOnly: true,
    },
    agent_id: { type: "string", required: true, readOnly: true },
    /** The endpoint (the agent's `bidding_endpoint`) this state applies to. */
    endpoint: { type: "string", required: true },
    state: { type: ["CLOSED", "OPEN"] as const, required: true },
    /** Failed deliveries since the last success (or since the endpoint changed). Moved with ADD. */
    consecutive_failures: { type: "number", required: true },
    /** When the circuit last opened (kept after it closes: it names the opening a close ends). */
    opened_at: { type: "string" },
    /** While OPEN: no delivery is tried before this instant (ISO). */
    open_until: { type: "string" },
    /** While OPEN after the cool-down: the half-open trial claimed until this instant (ISO). */
    trial_until: { type: "string" },
    /** The last failure's error: control characters replaced by `?`, at most 512 characters. */
    last_error: { type: "string" },
    last_failure_at: { type: "string" },
    updated_at: { type: "string", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["agent_id"], template: "AGENT#${agent_id}", casing: "none" },
      sk: { field: "SK", composite: [], template: "CIRCUIT", casing: "none" },
    },
  },
} as const;
