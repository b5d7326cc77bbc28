import type {
  AgentSnapshot,
  AgentTrust,
  ApprovalRequest,
  ApprovalStatus,
  AuditEntry,
  AuditEntryInput,
  AuditLevel,
  AuditVerification,
  Escrow,
  EscrowResolver,
  EscrowStatus,
  HealthMetric,
  HealthSummary,
  NewApprovalRequest,
  NewEscrow,
} from "../domain/governance/governance.types.js";
import type { Page, PageRequest } from "./pagination.js";

/** How long an incremental {@link GovernanceStore.verifyAudit} walks before it saves and returns. */
export const DEFAULT_AUDIT_VERIFY_BUDGET_MS = 20_000;

export interface AuditVerifyOptions {
  /** From seq 1 to the head, ignoring the checkpoint and without a time budget (the scheduled job). */
  full?: boolean;
  /**
   * Incremental walks stop after the page during which this much time passed (default
   * {@link DEFAULT_AUDIT_VERIFY_BUDGET_MS}); at least one page is always checked, so 0 means one page.
   */
  budgetMs?: number;
  /**
   * Walk from this row instead of the saved checkpoint (a verified anchor, see
   * domain/governance/audit-anchor.ts): the row `seq` must still carry `signature` and still
   * recompute, and the walk goes on from it. Ignored with `full`. Does not read or move the saved
   * checkpoint.
   */
  resumeFrom?: { seq: number; signature: string };
}

/** The chain head as stored: the last appended seq and its signature (GENESIS_HASH at seq 0). */
export interface AuditHeadRow {
  seq: number;
  last_hash: string;
}

/**
 * Everything governance writes, inside one database transaction: either all of it commits or none.
 * Methods throw {@link ConflictError} (domain/errors.ts) for a refused state change and
 * {@link NotFoundError} for a missing row; anything else is an outage and should be retried.
 */
export interface GovernanceTx {
  audit: {
    /** Appends one row to the hash chain (serialised with every other append). */
    append(entry: AuditEntryInput): Promise<AuditEntry>;
  };
  escrows: {
    /** Creates the escrow unless one with this id exists; returns the stored row either way. */
    create(escrow: NewEscrow): Promise<{ escrow: Escrow; created: boolean }>;
    get(id: string): Promise<Escrow | undefined>;
    /** The row, locked for the rest of the transaction. */
    getForUpdate(id: string): Promise<Escrow | undefined>;
    /**
     * Moves an escrow to `to`. Illegal moves (see domain/governance/escrow.ts; the database enforces the
     * same table with a trigger) throw ConflictError. Final states set `settled_at` = `at`.
     */
    transition(id: string, to: EscrowStatus, resolvedBy: EscrowResolver, at: string): Promise<Escrow>;
  };
  agents: {
    /** Inserts or updates the agent unless the stored `profile_version` is newer. Returns the stored row. */
    upsert(snapshot: AgentSnapshot, at: string): Promise<AgentTrust>;
    get(agentId: string): Promise<AgentTrust | undefined>;
    setTrust(
      agentId: string,
      trust: { trust_score: number; audit_level: AuditLevel; last_probe_score?: number | null },
      at: string,
    ): Promise<AgentTrust>;
  };
  health: {
    record(metric: HealthMetric): Promise<void>;
    /** Averages over metrics recorded at or after `since`; undefined when there are none. */
    summary(agentId: string, since: string): Promise<HealthSummary | undefined>;
  };
  approvals: {
    /** Creates the request unless one with this id exists; returns the stored row either way. */
    create(request: NewApprovalRequest): Promise<{ request: ApprovalRequest; created: boolean }>;
    get(id: string): Promise<ApprovalRequest | undefined>;
    /** pending → approved/rejected; anything else throws ConflictError. */
    decide(
      id: string,
      decision: Exclude<ApprovalStatus, "pending">,
      reviewer: string,
      at: string,
      note: string | null,
    ): Promise<ApprovalRequest>;
  };
}

/** Whose governance work a transaction does. */
export interface GovernanceScope {
  /**
   * The agent principal the work is done for. The transaction then runs with this id set
   * (`set_config('agentforge.agent_id', id, true)`, i.e. SET LOCAL), and the database's row-level
   * security lets it read and change only that agent's escrows, trust row, health metrics, approval
   * requests and audit rows (it may append audit rows for itself; the chain head is shared).
   * Another agent's rows are simply not there: reads miss them, updates change nothing. Absent (or
   * empty): operator or system work, which sees every row.
   */
  agentId?: string;
}

/**
 * The part of the store that works for one agent principal ({@link GovernanceStore.forAgent}): every
 * call runs in a transaction scoped to that agent (see {@link GovernanceScope}), so whatever filter
 * is passed, rows of other agents are neither returned nor changed.
 */
export interface AgentGovernanceStore {
  readonly agentId: string;
  transaction<T>(fn: (tx: GovernanceTx) => Promise<T>): Promise<T>;
  /** This agent's audit rows in `seq` order (an `agentId` filter naming another agent finds none). */
  listAudit(options?: { agentId?: string; afterSeq?: number; limit?: number }): Promise<AuditEntry[]>;
  listApprovals(status: ApprovalStatus | undefined, page?: PageRequest): Promise<Page<ApprovalRequest>>;
  listEscrows(
    filter: { taskId?: string; agentId?: string; status?: EscrowStatus },
    page?: PageRequest,
  ): Promise<Page<Escrow>>;
}

/**
 * The PostgreSQL side of the marketplace: audit log, escrow, health metrics, trust and approvals.
 * Implemented once over a small SQL client, with PGlite (embedded) and `pg` (server) clients.
 */
export interface GovernanceStore {
  /**
   * Runs `fn` in one database transaction. With `scope.agentId`, the transaction works for that
   * agent and row-level security confines it to the agent's rows (see {@link GovernanceScope}).
   */
  transaction<T>(fn: (tx: GovernanceTx) => Promise<T>, scope?: GovernanceScope): Promise<T>;
  /** The store as seen by one agent principal: every call scoped to `agentId` (a ValidationError if it is not plain text). */
  forAgent(agentId: string): AgentGovernanceStore;
  /**
   * Runs `fn` in a transaction that also records `eventKey` as applied. A key seen before is not
   * applied again: returns false without calling `fn`. This is what makes stream projection exactly
   * once however often a record is delivered.
   */
  applyOnce(eventKey: string, fn: (tx: GovernanceTx) => Promise<void>): Promise<boolean>;
  /**
   * Checks the audit chain's links and signatures in `seq` order. By default incrementally: it
   * re-checks the row of the last saved checkpoint (still there, same signature, signature still
   * recomputes), walks on from it page by page until the head or until `budgetMs` runs out, and saves
   * its progress as the new checkpoint (`complete: false` then: call again to go on). Rows before
   * the checkpoint are not read again; `{ full: true }` walks from seq 1 to the head without a budget
   * and finds an edit anywhere. A broken chain never moves the checkpoint.
   */
  verifyAudit(options?: AuditVerifyOptions): Promise<AuditVerification>;
  /** The chain head row as stored now. */
  auditHead(): Promise<AuditHeadRow>;
  /** The audit row with this seq, if it exists. */
  auditRowAt(seq: number): Promise<AuditEntry | undefined>;
  /** Audit rows in `seq` order, optionally for one agent. */
  listAudit(options?: { agentId?: string; afterSeq?: number; limit?: number }): Promise<AuditEntry[]>;
  listApprovals(status: ApprovalStatus | undefined, page?: PageRequest): Promise<Page<ApprovalRequest>>;
  /** Escrows by creation (`created_at`, then id), keyset-paged; a cursor from elsewhere is a ValidationError. */
  listEscrows(
    filter: { taskId?: string; agentId?: string; status?: EscrowStatus },
    page?: PageRequest,
  ): Promise<Page<Escrow>>;
  /** Escrows `pending` since before `createdBefore`, oldest first. */
  listExpiredEscrows(createdBefore: string, limit: number): Promise<Escrow[]>;
  /** Agents the health prober should check (active, not kill-switched), ordered by id. */
  listProbeTargets(page?: PageRequest): Promise<Page<AgentTrust>>;
  /** Whether `eventKey` was applied (for tests and the outage drill). */
  wasApplied(eventKey: string): Promise<boolean>;
  /** A cheap round trip, for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
