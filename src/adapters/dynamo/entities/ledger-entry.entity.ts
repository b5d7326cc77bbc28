import { OUTCOME_STATUSES } from "../../../domain/ledger/ledger.schema.js";
import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

const agentLedger = TABLE.globalIndexes.agentLedger;

/**
 * `TASK#<issue url>` / `LEDGER#<ISO timestamp>`: the documented, immutable ledger entry. It is only
 * ever created (`attribute_not_exists`); a correction is a new entry that names what it supersedes.
 * GSI2 (`AGENT#<winning_agent_id>` / `LEDGER#<ts>`) gives an agent's history, newest first.
 */
export const ledgerEntrySchema = {
  model: { entity: "ledger_entry", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: {
      type: ["TASK_LEDGER_ENTRY"] as const,
      required: true,
      default: "TASK_LEDGER_ENTRY",
      readOnly: true,
    },
    task_id: { type: "string", required: true, readOnly: true },
    winning_agent_id: { type: "string", required: true, readOnly: true },
    bid_amount: { type: "number", required: true, readOnly: true },
    actual_cost: { type: "number", required: true, readOnly: true },
    status: { type: OUTCOME_STATUSES, required: true, readOnly: true },
    quality_score: { type: "number", required: true, readOnly: true },
    completion_timestamp: { type: "string", required: true, readOnly: true },
    completion_time_sec: { type: "number", readOnly: true },
    supersedes: { type: "string", readOnly: true },
    recorded_at: { type: "string", required: true, readOnly: true },
  },
  indexes: {
    primary: {
      collection: "taskRecord",
      pk: { field: "PK", composite: ["task_id"], template: "TASK#${task_id}", casing: "none" },
      sk: {
        field: "SK",
        composite: ["completion_timestamp"],
        template: "LEDGER#${completion_timestamp}",
        casing: "none",
      },
    },
    byAgent: {
      index: agentLedger.indexName,
      pk: {
        field: agentLedger.partitionKey,
        composite: ["winning_agent_id"],
        template: "AGENT#${winning_agent_id}",
        casing: "none",
      },
      sk: {
        field: agentLedger.sortKey,
        composite: ["completion_timestamp"],
        template: "LEDGER#${completion_timestamp}",
        casing: "none",
      },
    },
  },
} as const;
