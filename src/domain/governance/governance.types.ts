/**
 * Governance records (audit log, escrow, health, trust, approvals). They live in PostgreSQL behind
 * {@link GovernanceStore} (src/ports/governance-store.ts); these are the shapes the domain sees.
 *
 * Money is an exact decimal string (`"120.5"`, at most 6 decimal places), never a float: it is stored
 * as `numeric(20,6)` and compared and signed as text.
 */

export const ESCROW_STATUSES = ["pending", "released", "refunded", "disputed"] as const;
export type EscrowStatus = (typeof ESCROW_STATUSES)[number];

export const ESCROW_RESOLVERS = ["judge", "api", "timeout"] as const;
/** Who settled an escrow: a judge through the API, the marketplace itself from an outcome, or the timeout sweeper. */
export type EscrowResolver = (typeof ESCROW_RESOLVERS)[number];

/** One escrow per award. */
export interface Escrow {
  /** UUID derived from `task_id` and `agent_id`, so re-projecting an award finds the same row. */
  id: string;
  task_id: string;
  agent_id: string;
  worker_wallet: string | null;
  /** Exact decimal, as stored (`numeric(20,6)`, e.g. `"120.500000"`). */
  amount: string;
  status: EscrowStatus;
  task_description: string | null;
  created_at: string;
  /** When it left `pending`/`disputed` for a final state (released/refunded); null before. */
  settled_at: string | null;
  resolved_by: EscrowResolver | null;
  updated_at: string;
}

export interface NewEscrow {
  id: string;
  task_id: string;
  agent_id: string;
  worker_wallet: string | null;
  amount: string;
  task_description: string | null;
  created_at: string;
}

/** What a caller appends to the audit log; the store adds `seq`, `prev_hash` and `signature`. */
export interface AuditEntryInput {
  /** Action type, snake_case: `agent_registered`, `kill_switch_on`, `escrow_created`, ... */
  action: string;
  agent_id: string | null;
  /** What was acted on: a task URL, `escrow:<id>`, `approval:<id>`, `agent:<id>`. */
  resource: string;
  /** Who did it: `operator:<name>`, `agent:<id>`, `system:projector`, `system:prober`... */
  actor: string;
  success: boolean;
  /** Exact decimal or null. */
  cost: string | null;
  /** JSON object; keys are sorted when signed, so its key order does not matter. */
  details: Record<string, unknown>;
  /** ISO-8601 with milliseconds (`Date.toISOString()`). */
  occurred_at: string;
}

export interface AuditEntry extends AuditEntryInput {
  /** 1, 2, 3, ... without gaps (assigned under a lock, not by a sequence, so a rollback leaves no hole). */
  seq: number;
  /** `signature` of the previous row; 64 zeros for the first row. */
  prev_hash: string;
  /** Hex HMAC-SHA256 over the row's canonical content (key_id included) and `prev_hash`. */
  signature: string;
  /**
   * Id of the audit key that signed the row (see AuditKeyring in audit-chain.ts); the store always
   * returns it, null for rows written before key ids existed (verified with the legacy key).
   */
  key_id?: string | null;
}

/**
 * What a walk of the audit chain found. `verified_through` is the last seq known good (seq 1 up to it
 * verified, by this call or, for an incremental one, also by the calls before its checkpoint).
 * `complete` is false only when an incremental walk found nothing wrong but its time budget ran out
 * before the head: call again to go on from there. A broken chain is a final answer (`complete: true`).
 */
export type AuditVerification =
  | {
      ok: true;
      /** Rows verified: seq 1 to `verified_through`. */
      rows: number;
      verified_through: number;
      complete: boolean;
    }
  | {
      ok: false;
      /** Rows that verified before the first bad one. */
      rows_checked: number;
      /** The first row that does not verify (for a deleted row: the row after the gap). */
      first_bad_seq: number;
      reason: string;
      verified_through: number;
      complete: true;
    };

export const HEALTH_METRIC_SOURCES = ["probe", "delivery"] as const;
/**
 * Who observed a health sample: `probe` (the scheduled health prober) or `delivery` (a delivery
 * circuit breaker opening or closing: the endpoint failed deliveries, or took one again; such samples
 * carry no latency and are left out of the latency average).
 */
export type HealthMetricSource = (typeof HEALTH_METRIC_SOURCES)[number];

export interface HealthMetric {
  agent_id: string;
  /** 0–100: whether the endpoint answered. */
  uptime_percentage: number;
  /** 0–1: fraction of error responses. */
  error_rate: number;
  avg_latency_ms: number;
  recorded_at: string;
  /** Default `probe`. */
  source?: HealthMetricSource;
}

/** Averages of an agent's health metrics since a point in time. */
export interface HealthSummary {
  samples: number;
  uptime_percentage: number;
  error_rate: number;
  avg_latency_ms: number;
}

export const AUDIT_LEVELS = ["Bronze", "Silver", "Gold", "Platinum"] as const;
export type AuditLevel = (typeof AUDIT_LEVELS)[number];

/** An agent as governance knows it: projected from the profile, plus trust. */
export interface AgentTrust {
  agent_id: string;
  bidding_endpoint: string;
  endpoint_kind: "sqs" | "https";
  status: "active" | "suspended";
  kill_switch_active: boolean;
  /** Exact sums from the profile's `performance_totals`. */
  outcomes: number;
  successes: number;
  quality_micros: number;
  trust_score: number;
  audit_level: AuditLevel;
  last_probe_score: number | null;
  /** The profile `version` this row reflects; older snapshots never overwrite newer ones. */
  profile_version: number;
  updated_at: string;
}

/** A profile snapshot from the table's stream. */
export type AgentSnapshot = Omit<AgentTrust, "trust_score" | "audit_level" | "last_probe_score">;

export const APPROVAL_STATUSES = ["pending", "approved", "rejected"] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

export interface ApprovalRequest {
  /** Derived from task, agent and award time: re-projecting the same award finds the same request. */
  id: string;
  task_id: string;
  agent_id: string;
  bid_amount: string;
  /** Why it needs a human: `AMOUNT_ABOVE_THRESHOLD`, `BRONZE_TIER`. */
  reason: string;
  status: ApprovalStatus;
  requested_at: string;
  reviewer: string | null;
  decided_at: string | null;
  note: string | null;
}

export type NewApprovalRequest = Omit<ApprovalRequest, "status" | "reviewer" | "decided_at" | "note">;
