import type { Page, PageRequest } from "../../ports/pagination.js";
import type { RecordOutcomeResult, TaskRepository } from "../../ports/task-repository.js";
import { agentIdSchema } from "../common.schema.js";
import { parseOrThrow } from "../validation.js";
import { type LedgerEntry, ledgerEntryInputSchema } from "./ledger.schema.js";

/** Ledger use cases: validation in front of the append-only outcome store. */
export function createLedgerService({ tasks }: { tasks: TaskRepository }) {
  return {
    /** Validates and appends an outcome; see {@link TaskRepository.recordOutcome}. */
    async recordOutcome(input: unknown, options: { supersedes?: string } = {}): Promise<RecordOutcomeResult> {
      return tasks.recordOutcome(parseOrThrow(ledgerEntryInputSchema, input, "ledger entry"), options);
    },

    async agentHistory(agentId: unknown, page?: PageRequest): Promise<Page<LedgerEntry>> {
      return tasks.agentHistory(parseOrThrow(agentIdSchema, agentId, "agent_id"), page);
    },
  };
}

export type LedgerService = ReturnType<typeof createLedgerService>;
