import type { BidRejection, BidStatus, DeliveryStatus } from "../bidding/bidding.types.js";
import type { LedgerEntry, OutcomeStatus } from "../ledger/ledger.schema.js";
import type { TaskEvidence } from "./evidence.js";
import type { TaskStatus } from "./task.schema.js";

export interface Task {
  type: "TASK";
  task_id: string;
  title: string;
  status: TaskStatus;
  required_capabilities: string[];
  budget?: number;
  bid_deadline?: string;
  repository_id?: number;
  issue_node_id?: string;
  latest_outcome_at?: string;
  latest_outcome_status?: OutcomeStatus;
  latest_outcome_quality?: number;
  evidence?: TaskEvidence;
  /** Agents whose award a reviewer rejected: never awarded this task again. */
  approval_excluded_agents?: string[];
  /** Bid items created for the task, and how many of them hold a first answer (the early award). */
  invited_count?: number;
  answered_count?: number;
  /** Invitations whose bid request finally failed to deliver before an answer: they count as not answering. */
  unreachable_count?: number;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface Bid {
  type: "BID";
  task_id: string;
  agent_id: string;
  status: BidStatus;
  invited_at: string;
  delivery_status: DeliveryStatus;
  delivery_attempts?: number;
  delivery_error?: string;
  /** The bid request finally failed before any answer: counted in the task's `unreachable_count`. */
  counted_unreachable?: boolean;
  bid_amount?: number;
  estimated_completion_sec?: number;
  answered_at?: string;
  /** When the queue accepted the answer (LATE is judged on it). */
  sent_at?: string;
  /** The answer's signed `sent_at`: orders the agent's answers. */
  message_sent_at?: string;
  notice?: "AWARD" | "REJECTION";
  notice_status?: DeliveryStatus;
  updated_at: string;
}

export interface Award {
  type: "AWARD";
  task_id: string;
  agent_id: string;
  bid_amount: number;
  estimated_completion_sec?: number;
  status: "PENDING_APPROVAL" | "AWARDED";
  awarded_at: string;
  actual_cost?: number;
  /** The signed `sent_at` of the cost report behind `actual_cost`. */
  cost_sent_at?: string;
  /** Why a PENDING_APPROVAL award waits for a human (kept after approval). */
  approval_reason?: string;
  /** The winner's wallet at award time: where its escrow pays out. */
  worker_wallet?: string;
}

/** Input for the one award of a task. */
export interface NewAward {
  task_id: string;
  agent_id: string;
  bid_amount: number;
  estimated_completion_sec?: number;
  status: Award["status"];
  /**
   * The winning bid's `sent_at` as ranked. The award transaction checks the bid item still holds it,
   * so a bid revised between ranking and commit cannot be awarded at its old price.
   */
  bid_sent_at?: string;
  approval_reason?: string;
  worker_wallet?: string;
}

/** Everything stored under `TASK#<url>`, read with one Query. Ledger entries are oldest first. */
export interface TaskRecord {
  task: Task;
  bids: Bid[];
  award?: Award;
  ledger: LedgerEntry[];
  /** Refused agent messages, oldest first. */
  rejections: BidRejection[];
}
