import type { AgentListing } from "../domain/agents/agent.types.js";
import type { BidRejection } from "../domain/bidding/bidding.types.js";
import type { RejectionResult } from "../domain/governance/approval.service.js";
import type { AnchoredAuditVerification } from "../domain/governance/audit-anchor.js";
import type { ApprovalRequest, AuditVerification, Escrow } from "../domain/governance/governance.types.js";
import type { LedgerEntry } from "../domain/ledger/ledger.schema.js";
import type { Award, Bid, Task } from "../domain/tasks/task.types.js";
import type { agentView } from "../http/rest-api.js";

/*
 * The JSON bodies of the REST API and the webhook receiver, as the CLI reads them. They are the
 * domain's types as src/http/rest-api.ts serialises them, so a change there breaks the CLI's build.
 */

export type AgentView = ReturnType<typeof agentView>;

/** A page of a paginated list; `cursor` fetches the next one. */
export interface Page<T> {
  items: T[];
  cursor: string | null;
}

export type AgentPage = Page<AgentListing>;

/** `GET /escrows`. */
export type EscrowPage = Page<Escrow>;

/** `POST /agents`: `api_key` and `bid_secret` only when an operator created the agent (201). */
export interface Registration {
  agent: AgentView;
  api_key?: string;
  bid_secret?: string;
}

/** `POST /agents/{id}/rotate-secret`: the replaced secret still verifies until `previous_valid_until`. */
export interface RotatedSecret {
  agent_id: string;
  bid_secret: string;
  previous_valid_until?: string;
}

/** `POST /agents/{id}/rotate-key`: the previous key still works until `previous_key_valid_until`. */
export interface RotatedKey {
  agent_id: string;
  api_key: string;
  previous_key_valid_until: string;
}

export interface AgentLedger extends Page<LedgerEntry> {
  agent_id: string;
}

/**
 * `GET /tasks/{id}`. An operator sees every bid with its delivery, the whole award and the rejected
 * messages; an invited agent (with its own key) only its own bid, without delivery details, and the
 * award without approval details.
 */
export interface TaskRecordView {
  task: Omit<Task, "version" | "evidence">;
  bids: Array<Omit<Bid, "delivery_error" | "delivery_status"> & Partial<Pick<Bid, "delivery_status">>>;
  award: (Omit<Award, "type"> & Partial<Pick<Award, "type">>) | null;
  ledger: LedgerEntry[];
  rejections: BidRejection[];
}

/** `GET /tasks/{id}/ledger`. */
export interface TaskLedger {
  task_id: string;
  ledger: LedgerEntry[];
}

export type { ApprovalRequest, AuditVerification, Escrow, LedgerEntry, RejectionResult };

/** `GET /audit/verify`: the chain walk, with the newest anchor it was checked against (absent from older servers). */
export type AuditVerifyAnswer = AuditVerification &
  Partial<Pick<AnchoredAuditVerification, "anchor" | "unanchored_rows" | "anchor_note">>;

/** `POST /webhooks/github`: 202 for a queued delivery, 200 for a ping. */
export interface WebhookAnswer {
  accepted?: boolean;
  pong?: boolean;
  delivery_id: string;
}
