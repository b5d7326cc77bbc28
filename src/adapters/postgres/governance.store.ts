import { ConflictError, NotFoundError, ValidationError } from "../../domain/errors.js";
import {
  type AuditCheckpoint,
  type AuditContent,
  type AuditKey,
  auditCheckpointMatches,
  canonicalAuditContent,
  canonicalJson,
  createAuditChainVerifier,
  signAuditCheckpoint,
  signAuditRow,
} from "../../domain/governance/audit-chain.js";
import { assertEscrowTransition, isFinalEscrowStatus } from "../../domain/governance/escrow.js";
import {
  type AgentSnapshot,
  type AgentTrust,
  APPROVAL_STATUSES,
  type ApprovalRequest,
  type ApprovalStatus,
  AUDIT_LEVELS,
  type AuditEntry,
  type AuditEntryInput,
  type AuditLevel,
  type AuditVerification,
  ESCROW_RESOLVERS,
  ESCROW_STATUSES,
  type Escrow,
  type EscrowResolver,
  type EscrowStatus,
  type HealthMetric,
  type NewApprovalRequest,
  type NewEscrow,
} from "../../domain/governance/governance.types.js";
import { normalizeDecimal } from "../../domain/governance/money.js";
import {
  DEFAULT_AUDIT_VERIFY_BUDGET_MS,
  type GovernanceStore,
  type GovernanceTx,
} from "../../ports/governance-store.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page, type PageRequest } from "../../ports/pagination.js";
import { SQLSTATE_ILLEGAL_TRANSITION } from "./migrations.js";
import { type SqlClient, type SqlExecutor, sqlState } from "./sql-client.js";

export interface PostgresGovernanceStoreOptions {
  /** A migrated database (see migrations.ts). The store owns it: `close()` closes it. */
  client: SqlClient;
  /** HMAC key of the audit chain. Rotating it makes every existing row fail verification. */
  auditKey: AuditKey;
  /** Clock for bookkeeping timestamps (`projected_events.applied_at`). */
  now?: () => Date;
  /** Rows per round trip (and per time-budget check) when verifying the audit chain; 500 when omitted. */
  verifyPageSize?: number;
}

const DEFAULT_VERIFY_PAGE_SIZE = 500;
const DEFAULT_AUDIT_LIMIT = 100;
/** Upper bound for the lists that are not cursor-paged. */
const MAX_LIST_LIMIT = 1000;
const MAX_CURSOR_LENGTH = 512;
const ISO_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** Text Postgres can be asked about: it refuses NUL outright, and no key here holds a control character. */
const PLAIN_TEXT = /^[^\p{Cc}]{1,512}$/u;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The audit row's columns, in the order of {@link auditRowParams}. */
export const AUDIT_COLUMNS =
  "seq, agent_id, action, resource, actor, success, cost, details, occurred_at, prev_hash, signature";
const ESCROW_COLUMNS =
  "id, task_id, agent_id, worker_wallet, amount, status, task_description, created_at, settled_at, resolved_by, updated_at";
const AGENT_COLUMNS =
  "agent_id, bidding_endpoint, endpoint_kind, status, kill_switch_active, outcomes, successes, quality_micros, trust_score, audit_level, last_probe_score, profile_version, updated_at";
const APPROVAL_COLUMNS =
  "id, task_id, agent_id, bid_amount, reason, status, requested_at, reviewer, decided_at, note";

type Timestamp = Date | string;
/** `bigint` arrives as a string from `pg` and as a number from PGlite. */
type Int8 = string | number;

interface AuditRow {
  seq: Int8;
  agent_id: string | null;
  action: string;
  resource: string;
  actor: string;
  success: boolean;
  cost: string | null;
  details: Record<string, unknown>;
  occurred_at: Timestamp;
  prev_hash: string;
  signature: string;
}

interface EscrowRow {
  id: string;
  task_id: string;
  agent_id: string;
  worker_wallet: string | null;
  amount: string;
  status: EscrowStatus;
  task_description: string | null;
  created_at: Timestamp;
  settled_at: Timestamp | null;
  resolved_by: EscrowResolver | null;
  updated_at: Timestamp;
}

interface AgentRow {
  agent_id: string;
  bidding_endpoint: string;
  endpoint_kind: "sqs" | "https";
  status: "active" | "suspended";
  kill_switch_active: boolean;
  outcomes: number;
  successes: number;
  quality_micros: Int8;
  trust_score: number;
  audit_level: AuditLevel;
  last_probe_score: number | null;
  profile_version: number;
  updated_at: Timestamp;
}

interface ApprovalRow {
  id: string;
  task_id: string;
  agent_id: string;
  bid_amount: string;
  reason: string;
  status: ApprovalStatus;
  requested_at: Timestamp;
  reviewer: string | null;
  decided_at: Timestamp | null;
  note: string | null;
}

/**
 * {@link GovernanceStore} on PostgreSQL through a {@link SqlClient} (PGlite or `pg`), over the
 * schema in migrations.ts. Timestamps go in and come out as ISO strings with milliseconds, money as
 * {@link normalizeDecimal} text; the database enforces the append-only audit log and the escrow
 * status graph on its own as well.
 *
 * Inside a `transaction` or `applyOnce` callback use only the `tx` it is given: on PGlite (one
 * connection) calling the store's own methods there waits for the transaction and never returns.
 * A refused write (ConflictError, a failed statement) aborts the whole transaction.
 */
export function createPostgresGovernanceStore(options: PostgresGovernanceStoreOptions): GovernanceStore {
  const { client, auditKey } = options;
  const now = options.now ?? (() => new Date());
  const verifyPageSize = clampLimit(options.verifyPageSize, DEFAULT_VERIFY_PAGE_SIZE, 10_000);
  if (auditKey.length === 0) throw new Error("The audit key must not be empty");

  const txFor = (sql: SqlExecutor) => createGovernanceTx(sql, auditKey);

  /**
   * One page of the chain after `after`, and the chain head: both from one snapshot, so appends
   * committing meanwhile cannot look like a tampered tail. Each page is its own short read-only
   * transaction; the rows before it are append-only, so earlier pages stay valid.
   */
  const readAuditPage = (after: number) =>
    client.transaction(async (sql) => {
      await sql.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      const rows = await sql.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM audit_logs WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [after, verifyPageSize],
      );
      const [head] = await sql.query<{ seq: Int8; last_hash: string }>(
        "SELECT seq, last_hash FROM audit_chain_head WHERE id = 1",
      );
      if (!head) throw new Error("audit_chain_head has no row: the governance migration did not run");
      return { rows, head };
    });

  /** The saved checkpoint; `valid` is false when its MAC does not verify (forged, or another key). */
  const readCheckpoint = async () => {
    const [row] = await client.query<{ seq: Int8; signature: string; verified_at: Timestamp; mac: string }>(
      "SELECT seq, signature, verified_at, mac FROM audit_verification_checkpoint WHERE id = 1",
    );
    if (!row) return undefined;
    const checkpoint: AuditCheckpoint = {
      seq: Number(row.seq),
      signature: row.signature,
      verified_at: iso(row.verified_at),
    };
    return { checkpoint, valid: auditCheckpointMatches(auditKey, checkpoint, row.mac) };
  };

  /** Moves the checkpoint forward (never back, whoever saves last), or over a forged one. */
  const saveCheckpoint = (checkpoint: AuditCheckpoint, replaceForged: boolean) =>
    client.query(
      `INSERT INTO audit_verification_checkpoint (id, seq, signature, verified_at, mac)
       VALUES (1, $1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, signature = EXCLUDED.signature,
         verified_at = EXCLUDED.verified_at, mac = EXCLUDED.mac
       WHERE audit_verification_checkpoint.seq <= EXCLUDED.seq OR $5::boolean`,
      [
        checkpoint.seq,
        checkpoint.signature,
        checkpoint.verified_at,
        signAuditCheckpoint(auditKey, checkpoint),
        replaceForged,
      ],
    );

  return {
    transaction(fn) {
      return client.transaction((sql) => fn(txFor(sql)));
    },

    async applyOnce(eventKey, fn) {
      if (eventKey.length === 0) {
        throw new ValidationError("Invalid event key", [{ path: "eventKey", message: "is empty" }]);
      }
      // On a server, a concurrent caller with the same key blocks on the primary key until this
      // transaction ends, then sees the conflict (or inserts, if this one rolled back).
      return client.transaction(async (sql) => {
        const claimed = await sql.query<{ event_key: string }>(
          `INSERT INTO projected_events (event_key, applied_at) VALUES ($1, $2)
           ON CONFLICT (event_key) DO NOTHING RETURNING event_key`,
          [eventKey, now().toISOString()],
        );
        if (claimed.length === 0) return false;
        await fn(txFor(sql));
        return true;
      });
    },

    async verifyAudit(options = {}) {
      const full = options.full === true;
      const budgetMs = full
        ? Number.POSITIVE_INFINITY
        : Math.max(0, options.budgetMs ?? DEFAULT_AUDIT_VERIFY_BUDGET_MS);
      const deadline = performance.now() + budgetMs;
      const resumeFrom = full ? undefined : options.resumeFrom;
      const saved = full || resumeFrom ? undefined : await readCheckpoint();
      const checkpoint = resumeFrom ?? (saved?.valid ? saved.checkpoint : undefined);
      const verifier = createAuditChainVerifier(auditKey, checkpoint);
      // An incremental walk starts at the checkpoint row itself, to check it again.
      let after = checkpoint ? checkpoint.seq - 1 : 0;
      let result: AuditVerification;
      for (;;) {
        const { rows, head } = await readAuditPage(after);
        if (!rows.every((row) => verifier.push(auditEntry(row)))) {
          result = verifier.progress();
          break;
        }
        const headSeq = Number(head.seq);
        after = Number(rows.at(-1)?.seq ?? after);
        // At the head, or past it (rows added outside the append path, which finish reports).
        if (rows.length < verifyPageSize || after >= headSeq) {
          result = verifier.finish({ seq: headSeq, last_hash: head.last_hash });
          break;
        }
        if (performance.now() >= deadline) {
          result = verifier.progress();
          break;
        }
      }
      // Only rows that verified move the checkpoint; a broken chain leaves it where it was.
      if (!resumeFrom && result.ok && verifier.last.seq > (checkpoint?.seq ?? 0)) {
        await saveCheckpoint(
          { ...verifier.last, verified_at: now().toISOString() },
          saved !== undefined && !saved.valid,
        );
      }
      return result;
    },

    async auditHead() {
      const [head] = await client.query<{ seq: Int8; last_hash: string }>(
        "SELECT seq, last_hash FROM audit_chain_head WHERE id = 1",
      );
      if (!head) throw new Error("audit_chain_head has no row: the governance migration did not run");
      return { seq: Number(head.seq), last_hash: head.last_hash };
    },

    async auditRowAt(seq) {
      if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
      const [row] = await client.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit_logs WHERE seq = $1`, [
        seq,
      ]);
      return row ? auditEntry(row) : undefined;
    },

    async listAudit(options = {}) {
      const limit = clampLimit(options.limit, DEFAULT_AUDIT_LIMIT, MAX_LIST_LIMIT);
      const rows = await client.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM audit_logs
         WHERE ($1::text IS NULL OR agent_id = $1) AND seq > $2
         ORDER BY seq LIMIT $3`,
        [plainText(options.agentId, "agentId"), Math.max(0, Math.trunc(options.afterSeq ?? 0)), limit],
      );
      return rows.map(auditEntry);
    },

    async listApprovals(status, page = {}) {
      if (status !== undefined && !APPROVAL_STATUSES.includes(status)) {
        throw new ValidationError("Invalid approval status", [
          { path: "status", message: `is not one of ${APPROVAL_STATUSES.join(", ")}` },
        ]);
      }
      const limit = clampLimit(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const cursor = decodeCursor(page.cursor, "approvals");
      const rows = await client.query<ApprovalRow>(
        `SELECT ${APPROVAL_COLUMNS} FROM approval_requests
         WHERE ($1::text IS NULL OR status = $1)
           AND ($2::timestamptz IS NULL OR (requested_at, id) > ($2::timestamptz, $3::text))
         ORDER BY requested_at, id LIMIT $4`,
        [status ?? null, cursor?.at ?? null, cursor?.id ?? null, limit + 1],
      );
      return keysetPage(rows.map(approvalRequest), limit, (last) =>
        encodeCursor({ k: "approvals", at: last.requested_at, id: last.id }),
      );
    },

    async listEscrows(filter, page = {}) {
      if (filter.status !== undefined && !ESCROW_STATUSES.includes(filter.status)) {
        throw new ValidationError("Invalid escrow status", [
          { path: "status", message: `is not one of ${ESCROW_STATUSES.join(", ")}` },
        ]);
      }
      const limit = clampLimit(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const cursor = decodeCursor(page.cursor, "escrows");
      const rows = await client.query<EscrowRow>(
        `SELECT ${ESCROW_COLUMNS} FROM escrows
         WHERE ($1::text IS NULL OR task_id = $1) AND ($2::text IS NULL OR agent_id = $2)
           AND ($3::text IS NULL OR status = $3)
           AND ($4::timestamptz IS NULL OR (created_at, id) > ($4::timestamptz, $5::uuid))
         ORDER BY created_at, id LIMIT $6`,
        [
          plainText(filter.taskId, "taskId"),
          plainText(filter.agentId, "agentId"),
          filter.status ?? null,
          cursor?.at ?? null,
          cursor?.id ?? null,
          limit + 1,
        ],
      );
      return keysetPage(rows.map(escrow), limit, (last) =>
        encodeCursor({ k: "escrows", at: last.created_at, id: last.id }),
      );
    },

    async listExpiredEscrows(createdBefore, limit) {
      const rows = await client.query<EscrowRow>(
        `SELECT ${ESCROW_COLUMNS} FROM escrows
         WHERE status = 'pending' AND created_at < $1
         ORDER BY created_at, id LIMIT $2`,
        [isoTimestamp(createdBefore, "createdBefore"), clampLimit(limit, DEFAULT_PAGE_SIZE, MAX_LIST_LIMIT)],
      );
      return rows.map(escrow);
    },

    async listProbeTargets(page = {}) {
      const limit = clampLimit(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
      const cursor = decodeCursor(page.cursor, "probe-targets");
      const rows = await client.query<AgentRow>(
        `SELECT ${AGENT_COLUMNS} FROM agent_trust
         WHERE status = 'active' AND NOT kill_switch_active AND ($1::text IS NULL OR agent_id > $1)
         ORDER BY agent_id LIMIT $2`,
        [cursor?.id ?? null, limit + 1],
      );
      return keysetPage(rows.map(agentTrust), limit, (last) =>
        encodeCursor({ k: "probe-targets", id: last.agent_id }),
      );
    },

    async wasApplied(eventKey) {
      const rows = await client.query("SELECT 1 FROM projected_events WHERE event_key = $1", [eventKey]);
      return rows.length > 0;
    },

    async ping() {
      await client.query("SELECT 1");
    },

    close() {
      return client.close();
    },
  };
}

/** The per-transaction half of the store: every method runs on `sql`, the transaction's connection. */
function createGovernanceTx(sql: SqlExecutor, auditKey: AuditKey): GovernanceTx {
  const getEscrow = async (id: string, lock: boolean): Promise<Escrow | undefined> => {
    if (!UUID.test(id)) return undefined;
    const [row] = await sql.query<EscrowRow>(
      `SELECT ${ESCROW_COLUMNS} FROM escrows WHERE id = $1${lock ? " FOR UPDATE" : ""}`,
      [id],
    );
    return row ? escrow(row) : undefined;
  };

  const getAgent = async (agentId: string): Promise<AgentTrust | undefined> => {
    const [row] = await sql.query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agent_trust WHERE agent_id = $1`, [
      agentId,
    ]);
    return row ? agentTrust(row) : undefined;
  };

  const getApproval = async (id: string, lock = false): Promise<ApprovalRequest | undefined> => {
    const [row] = await sql.query<ApprovalRow>(
      `SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE id = $1${lock ? " FOR UPDATE" : ""}`,
      [id],
    );
    return row ? approvalRequest(row) : undefined;
  };

  return {
    audit: {
      async append(input: AuditEntryInput) {
        const details = jsonObject(input.details);
        const [head] = await sql.query<{ seq: Int8; last_hash: string }>(
          "SELECT seq, last_hash FROM audit_chain_head WHERE id = 1 FOR UPDATE",
        );
        if (!head) throw new Error("audit_chain_head has no row: the governance migration did not run");
        const content: AuditContent = {
          seq: Number(head.seq) + 1,
          action: input.action,
          agent_id: input.agent_id,
          resource: input.resource,
          actor: input.actor,
          success: input.success,
          cost: input.cost === null ? null : normalizeDecimal(input.cost, "cost"),
          details,
          occurred_at: isoTimestamp(input.occurred_at, "occurred_at"),
        };
        const signature = signAuditRow(auditKey, canonicalAuditContent(content), head.last_hash);
        const entry: AuditEntry = { ...content, prev_hash: head.last_hash, signature };
        await sql.query(
          `INSERT INTO audit_logs (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11)`,
          auditRowParams(entry),
        );
        await sql.query("UPDATE audit_chain_head SET seq = $1, last_hash = $2 WHERE id = 1", [
          content.seq,
          signature,
        ]);
        return entry;
      },
    },

    escrows: {
      async create(input: NewEscrow) {
        if (!UUID.test(input.id)) {
          throw new ValidationError("Invalid escrow id", [{ path: "id", message: "must be a UUID" }]);
        }
        const id = input.id.toLowerCase();
        const at = isoTimestamp(input.created_at, "created_at");
        const inserted = await sql.query<EscrowRow>(
          `INSERT INTO escrows (id, task_id, agent_id, worker_wallet, amount, status, task_description, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7)
           ON CONFLICT DO NOTHING RETURNING ${ESCROW_COLUMNS}`,
          [
            id,
            input.task_id,
            input.agent_id,
            input.worker_wallet,
            normalizeDecimal(input.amount),
            input.task_description,
            at,
          ],
        );
        const [row] = inserted;
        if (row) return { escrow: escrow(row), created: true };
        const existing = await getEscrow(id, false);
        if (!existing) {
          throw new ConflictError(
            `Task ${input.task_id} already has an escrow for ${input.agent_id} under another id`,
            {
              reason: "DUPLICATE_ESCROW",
              task_id: input.task_id,
              agent_id: input.agent_id,
            },
          );
        }
        return { escrow: existing, created: false };
      },

      get: (id) => getEscrow(id, false),
      getForUpdate: (id) => getEscrow(id, true),

      async transition(id, to, resolvedBy, at) {
        if (!ESCROW_STATUSES.includes(to)) {
          throw new ValidationError("Invalid escrow status", [
            { path: "to", message: `is not one of ${ESCROW_STATUSES.join(", ")}` },
          ]);
        }
        if (!ESCROW_RESOLVERS.includes(resolvedBy)) {
          throw new ValidationError("Invalid escrow resolver", [
            { path: "resolvedBy", message: `is not one of ${ESCROW_RESOLVERS.join(", ")}` },
          ]);
        }
        const when = isoTimestamp(at, "at");
        const current = await getEscrow(id, true);
        if (!current) throw new NotFoundError("escrow", id);
        assertEscrowTransition(current.status, to, resolvedBy);
        const final = isFinalEscrowStatus(to);
        try {
          const [row] = await sql.query<EscrowRow>(
            `UPDATE escrows SET status = $2, updated_at = $3,
               settled_at = CASE WHEN $4::boolean THEN $3::timestamptz ELSE settled_at END,
               resolved_by = CASE WHEN $4::boolean THEN $5::text ELSE resolved_by END
             WHERE id = $1 RETURNING ${ESCROW_COLUMNS}`,
            [current.id, to, when, final, resolvedBy],
          );
          if (!row) throw new NotFoundError("escrow", id);
          return escrow(row);
        } catch (error) {
          // The domain check above and the trigger share one table, so this means they drifted apart.
          if (sqlState(error) === SQLSTATE_ILLEGAL_TRANSITION) {
            throw new ConflictError((error as Error).message, {
              reason: "ILLEGAL_TRANSITION",
              from: current.status,
              to,
            });
          }
          throw error;
        }
      },
    },

    agents: {
      async upsert(snapshot: AgentSnapshot, at: string) {
        const when = isoTimestamp(at, "at");
        // One statement: the WHERE makes an older snapshot a no-op even against a concurrent upsert.
        // Trust columns are left to their defaults on insert and never touched on update.
        const [row] = await sql.query<AgentRow>(
          `INSERT INTO agent_trust (agent_id, bidding_endpoint, endpoint_kind, status, kill_switch_active,
             outcomes, successes, quality_micros, profile_version, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (agent_id) DO UPDATE SET
             bidding_endpoint = EXCLUDED.bidding_endpoint,
             endpoint_kind = EXCLUDED.endpoint_kind,
             status = EXCLUDED.status,
             kill_switch_active = EXCLUDED.kill_switch_active,
             outcomes = EXCLUDED.outcomes,
             successes = EXCLUDED.successes,
             quality_micros = EXCLUDED.quality_micros,
             profile_version = EXCLUDED.profile_version,
             updated_at = EXCLUDED.updated_at
           WHERE agent_trust.profile_version <= EXCLUDED.profile_version
           RETURNING ${AGENT_COLUMNS}`,
          [
            snapshot.agent_id,
            snapshot.bidding_endpoint,
            snapshot.endpoint_kind,
            snapshot.status,
            snapshot.kill_switch_active,
            snapshot.outcomes,
            snapshot.successes,
            snapshot.quality_micros,
            snapshot.profile_version,
            when,
          ],
        );
        if (row) return agentTrust(row);
        const stored = await getAgent(snapshot.agent_id);
        if (!stored) throw new Error(`agent_trust row ${snapshot.agent_id} vanished during upsert`);
        return stored;
      },

      get: getAgent,

      async setTrust(agentId, trust, at) {
        checkScore(trust.trust_score, "trust_score");
        if (!AUDIT_LEVELS.includes(trust.audit_level)) {
          throw new ValidationError("Invalid audit level", [
            { path: "audit_level", message: `is not one of ${AUDIT_LEVELS.join(", ")}` },
          ]);
        }
        const probeGiven = trust.last_probe_score !== undefined;
        if (trust.last_probe_score !== undefined && trust.last_probe_score !== null) {
          checkScore(trust.last_probe_score, "last_probe_score");
        }
        const [row] = await sql.query<AgentRow>(
          `UPDATE agent_trust SET trust_score = $2, audit_level = $3,
             last_probe_score = CASE WHEN $4::boolean THEN $5::integer ELSE last_probe_score END,
             updated_at = $6
           WHERE agent_id = $1 RETURNING ${AGENT_COLUMNS}`,
          [
            agentId,
            trust.trust_score,
            trust.audit_level,
            probeGiven,
            trust.last_probe_score ?? null,
            isoTimestamp(at, "at"),
          ],
        );
        if (!row) throw new NotFoundError("agent", agentId);
        return agentTrust(row);
      },
    },

    health: {
      async record(metric: HealthMetric) {
        checkRange(metric.uptime_percentage, 0, 100, "uptime_percentage");
        checkRange(metric.error_rate, 0, 1, "error_rate");
        checkRange(metric.avg_latency_ms, 0, 2_147_483_647, "avg_latency_ms");
        await sql.query(
          `INSERT INTO health_metrics (agent_id, uptime_percentage, error_rate, avg_latency_ms, recorded_at)
           VALUES ($1, $2, $3, $4, $5)`,
          [
            metric.agent_id,
            metric.uptime_percentage,
            metric.error_rate,
            Math.round(metric.avg_latency_ms),
            isoTimestamp(metric.recorded_at, "recorded_at"),
          ],
        );
      },

      async summary(agentId, since) {
        const [row] = await sql.query<{
          samples: number;
          uptime: number | null;
          errors: number | null;
          latency: number | null;
        }>(
          `SELECT count(*)::integer AS samples, avg(uptime_percentage) AS uptime, avg(error_rate) AS errors,
                  avg(avg_latency_ms)::double precision AS latency
           FROM health_metrics WHERE agent_id = $1 AND recorded_at >= $2`,
          [agentId, isoTimestamp(since, "since")],
        );
        if (!row || row.samples === 0) return undefined;
        return {
          samples: row.samples,
          uptime_percentage: Number(row.uptime),
          error_rate: Number(row.errors),
          avg_latency_ms: Number(row.latency),
        };
      },
    },

    approvals: {
      async create(request: NewApprovalRequest) {
        const inserted = await sql.query<ApprovalRow>(
          `INSERT INTO approval_requests (id, task_id, agent_id, bid_amount, reason, status, requested_at)
           VALUES ($1, $2, $3, $4, $5, 'pending', $6)
           ON CONFLICT (id) DO NOTHING RETURNING ${APPROVAL_COLUMNS}`,
          [
            request.id,
            request.task_id,
            request.agent_id,
            normalizeDecimal(request.bid_amount, "bid_amount"),
            request.reason,
            isoTimestamp(request.requested_at, "requested_at"),
          ],
        );
        const [row] = inserted;
        if (row) return { request: approvalRequest(row), created: true };
        const existing = await getApproval(request.id);
        if (!existing) throw new Error(`approval request ${request.id} conflicted but cannot be read`);
        return { request: existing, created: false };
      },

      get: (id) => getApproval(id),

      async decide(id, decision, reviewer, at, note) {
        if (decision !== "approved" && decision !== "rejected") {
          throw new ValidationError("Invalid decision", [
            { path: "decision", message: "must be approved or rejected" },
          ]);
        }
        if (reviewer.length === 0) {
          throw new ValidationError("Invalid reviewer", [{ path: "reviewer", message: "is empty" }]);
        }
        const current = await getApproval(id, true);
        if (!current) throw new NotFoundError("approval request", id);
        if (current.status !== "pending") {
          throw new ConflictError(`Approval request ${id} is already ${current.status}`, {
            reason: "ALREADY_DECIDED",
            status: current.status,
          });
        }
        const [row] = await sql.query<ApprovalRow>(
          `UPDATE approval_requests SET status = $2, reviewer = $3, decided_at = $4, note = $5
           WHERE id = $1 RETURNING ${APPROVAL_COLUMNS}`,
          [id, decision, reviewer, isoTimestamp(at, "at"), note],
        );
        if (!row) throw new NotFoundError("approval request", id);
        return approvalRequest(row);
      },
    },
  };
}

/** A signed row as INSERT parameters in {@link AUDIT_COLUMNS} order (details as canonical JSON text). */
export function auditRowParams(entry: AuditEntry): unknown[] {
  return [
    entry.seq,
    entry.agent_id,
    entry.action,
    entry.resource,
    entry.actor,
    entry.success,
    entry.cost,
    canonicalJson(entry.details),
    entry.occurred_at,
    entry.prev_hash,
    entry.signature,
  ];
}

function auditEntry(row: AuditRow): AuditEntry {
  return {
    seq: Number(row.seq),
    action: row.action,
    agent_id: row.agent_id,
    resource: row.resource,
    actor: row.actor,
    success: row.success,
    cost: row.cost === null ? null : normalizeDecimal(row.cost, "cost"),
    details: row.details,
    occurred_at: iso(row.occurred_at),
    prev_hash: row.prev_hash,
    signature: row.signature,
  };
}

function escrow(row: EscrowRow): Escrow {
  return {
    id: row.id,
    task_id: row.task_id,
    agent_id: row.agent_id,
    worker_wallet: row.worker_wallet,
    amount: normalizeDecimal(row.amount),
    status: row.status,
    task_description: row.task_description,
    created_at: iso(row.created_at),
    settled_at: row.settled_at === null ? null : iso(row.settled_at),
    resolved_by: row.resolved_by,
    updated_at: iso(row.updated_at),
  };
}

function agentTrust(row: AgentRow): AgentTrust {
  return {
    agent_id: row.agent_id,
    bidding_endpoint: row.bidding_endpoint,
    endpoint_kind: row.endpoint_kind,
    status: row.status,
    kill_switch_active: row.kill_switch_active,
    outcomes: row.outcomes,
    successes: row.successes,
    quality_micros: Number(row.quality_micros),
    trust_score: row.trust_score,
    audit_level: row.audit_level,
    last_probe_score: row.last_probe_score,
    profile_version: row.profile_version,
    updated_at: iso(row.updated_at),
  };
}

function approvalRequest(row: ApprovalRow): ApprovalRequest {
  return {
    id: row.id,
    task_id: row.task_id,
    agent_id: row.agent_id,
    bid_amount: normalizeDecimal(row.bid_amount, "bid_amount"),
    reason: row.reason,
    status: row.status,
    requested_at: iso(row.requested_at),
    reviewer: row.reviewer,
    decided_at: row.decided_at === null ? null : iso(row.decided_at),
    note: row.note,
  };
}

function iso(value: Timestamp): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/**
 * An input timestamp as the ISO text the store writes. Everything is kept to milliseconds, so what
 * comes back (and what the audit chain signs) is exactly what `toISOString()` gives.
 */
function isoTimestamp(value: string, path: string): string {
  const date = typeof value === "string" ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new ValidationError(`Invalid ${path}`, [{ path, message: "must be an ISO-8601 timestamp" }]);
  }
  return date.toISOString();
}

/** Audit details as plain JSON data with sorted keys: what jsonb will give back. */
function jsonObject(details: Record<string, unknown>): Record<string, unknown> {
  if (typeof details !== "object" || details === null || Array.isArray(details)) {
    throw new ValidationError("Invalid details", [{ path: "details", message: "must be a JSON object" }]);
  }
  return JSON.parse(canonicalJson(details)) as Record<string, unknown>;
}

function checkScore(value: number, path: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 100) {
    throw new ValidationError(`Invalid ${path}`, [{ path, message: "must be an integer from 0 to 100" }]);
  }
}

function checkRange(value: number, min: number, max: number, path: string): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new ValidationError(`Invalid ${path}`, [
      { path, message: `must be a number from ${min} to ${max}` },
    ]);
  }
}

function clampLimit(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.min(Math.max(Math.trunc(limit), 1), max);
}

/** A filter value as a query parameter (null when absent); a control character is a ValidationError. */
function plainText(value: string | undefined, path: string): string | null {
  if (value === undefined) return null;
  if (typeof value !== "string" || !PLAIN_TEXT.test(value)) {
    throw new ValidationError(`Invalid ${path}`, [
      { path, message: "must be 1-512 characters without control characters" },
    ]);
  }
  return value;
}

/** The first `limit` of `rows` (fetched with one extra), with a cursor after the last when there are more. */
function keysetPage<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return rows.length > limit && last ? { items, cursor: cursorOf(last) } : { items };
}

type Cursor =
  | { k: "approvals"; at: string; id: string }
  | { k: "escrows"; at: string; id: string }
  | { k: "probe-targets"; id: string };

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor), "utf8").toString("base64url");
}

/** Reads back a cursor {@link encodeCursor} issued for `kind`; anything else is a ValidationError. */
function decodeCursor<K extends Cursor["k"]>(
  cursor: PageRequest["cursor"],
  kind: K,
): Extract<Cursor, { k: K }> | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  const invalid = () =>
    new ValidationError("Invalid cursor", [{ path: "cursor", message: "is not a cursor this API issued" }]);
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  if (typeof decoded !== "object" || decoded === null) throw invalid();
  const value = decoded as Record<string, unknown>;
  // The id goes back to Postgres: a tampered one must be refused here, not by the database.
  if (value.k !== kind || typeof value.id !== "string" || !PLAIN_TEXT.test(value.id)) throw invalid();
  if (kind === "escrows" && !UUID.test(value.id)) throw invalid();
  if (kind === "approvals" || kind === "escrows") {
    if (typeof value.at !== "string" || !ISO_MILLIS.test(value.at) || Number.isNaN(Date.parse(value.at))) {
      throw invalid();
    }
    return { k: kind, at: value.at, id: value.id } as Extract<Cursor, { k: K }>;
  }
  return { k: kind, id: value.id } as Extract<Cursor, { k: K }>;
}
