import { AGENT_STATUSES, COST_MODELS } from "../../../domain/agents/agent.schema.js";
import { AUDIT_LEVELS } from "../../../domain/governance/governance.types.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

const numberField = { type: "number", required: true } as const;

/** `AGENT#<agent_id>` / `PROFILE`: the documented agent profile. */
export const agentProfileSchema = {
  model: { entity: "agent_profile", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["AGENT_PROFILE"] as const, required: true, default: "AGENT_PROFILE", readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    capabilities: { type: "set", items: "string", required: true },
    cost_model: { type: COST_MODELS, required: true },
    bidding_endpoint: { type: "string", required: true },
    endpoint_kind: { type: ["sqs", "https"] as const, required: true },
    status: { type: AGENT_STATUSES, required: true },
    kill_switch_active: { type: "boolean", required: true },
    /** Who last flipped the kill switch, why and when (carried to the audit log by the stream). */
    kill_switch_changed_by: { type: "string" },
    kill_switch_reason: { type: "string" },
    kill_switch_changed_at: { type: "string" },
    /** Who made the last registration change: `operator:<name>` or `agent:<id>` (audited). */
    updated_by: { type: "string" },
    /** Where escrow pays out; optional. */
    wallet_address: { type: "string" },
    /**
     * Trust score 0–100 and its tier, computed by governance (Postgres) and written back here so the
     * award policy reads them with the profile. Absent until governance first scores the agent.
     */
    trust_score: { type: "number" },
    audit_level: { type: AUDIT_LEVELS },
    trust_updated_at: { type: "string" },
    performance_history: {
      type: "map",
      required: true,
      properties: {
        average_cost_per_task: numberField,
        success_rate: numberField,
        average_completion_time_sec: numberField,
        total_tasks_completed: numberField,
      },
    },
    /** Exact sums the averages above are derived from (see domain/agents/performance.ts). */
    performance_totals: {
      type: "map",
      required: true,
      properties: {
        outcomes: numberField,
        successes: numberField,
        cost_micros: numberField,
        quality_micros: numberField,
        completion_sec_total: numberField,
        timed_outcomes: numberField,
      },
    },
    /** Optimistic-concurrency counter; every write conditions on the value it read. */
    version: { type: "number", required: true },
    created_at: { type: "string", required: true, readOnly: true },
    updated_at: { type: "string", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["agent_id"], template: "AGENT#${agent_id}", casing: "none" },
      sk: { field: "SK", composite: [], template: "PROFILE", casing: "none" },
    },
  },
} as const;
