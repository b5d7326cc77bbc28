import { ValidationError } from "../../../domain/errors.js";
import { type AuditKey, type AuditKeyring, auditKeyring } from "../../../domain/governance/audit-chain.js";
import type {
  AgentGovernanceStore,
  GovernanceScope,
  GovernanceStore,
  GovernanceTx,
} from "../../../ports/governance-store.js";
import type { SqlClient, SqlExecutor } from "../sql-client.js";
import { agentsTx, listProbeTargets } from "./agents.js";
import { approvalsTx, listApprovals } from "./approvals.js";
import { auditHead, auditRowAt, auditTx, createAuditVerify, listAudit } from "./audit.js";
import { escrowsTx, listEscrows, listExpiredEscrows } from "./escrows.js";
import { healthTx } from "./health.js";
import { clampLimit, plainText } from "./rows.js";

export interface PostgresGovernanceStoreOptions {
  /** A migrated database (see migrations.ts). The store owns it: `close()` closes it. */
  client: SqlClient;
  /**
   * The audit chain's HMAC key: a plain key, a keyring, or a keyring's JSON text (see
   * {@link AuditKeyring}). Rows are verified with the key their key id names, so keep every key
   * whose rows must still verify.
   */
  auditKey: AuditKey | AuditKeyring;
  /** Clock for bookkeeping timestamps (`projected_events.applied_at`, the verification checkpoint). */
  now?: () => Date;
  /** Rows per round trip (and per time-budget check) when verifying the audit chain; 500 when omitted. */
  verifyPageSize?: number;
}

const DEFAULT_VERIFY_PAGE_SIZE = 500;

/**
 * The custom setting row-level security reads (migrations.ts, 0004): the agent a transaction works
 * for, or empty/unset for operator and system work.
 */
export const AGENT_SCOPE_SETTING = "agentforge.agent_id";

/**
 * {@link GovernanceStore} on PostgreSQL through a {@link SqlClient} (PGlite or `pg`), over the
 * schema in migrations.ts, one module per aggregate (audit, escrows, agents, health, approvals).
 * Timestamps go in and come out as ISO strings with milliseconds, money as `normalizeDecimal`
 * text; the database enforces the append-only audit log, the escrow status graph and, for
 * agent-scoped work, row-level security on its own as well.
 *
 * Inside a `transaction` or `applyOnce` callback use only the `tx` it is given: on PGlite (one
 * connection) calling the store's own methods there waits for the transaction and never returns.
 * A refused write (ConflictError, a failed statement) aborts the whole transaction.
 */
export function createPostgresGovernanceStore(options: PostgresGovernanceStoreOptions): GovernanceStore {
  const { client } = options;
  const keyring = auditKeyring(options.auditKey);
  const now = options.now ?? (() => new Date());
  const verifyAudit = createAuditVerify({
    client,
    keyring,
    now,
    pageSize: clampLimit(options.verifyPageSize, DEFAULT_VERIFY_PAGE_SIZE, 10_000),
  });

  const txFor = (sql: SqlExecutor): GovernanceTx => ({
    audit: auditTx(sql, keyring),
    escrows: escrowsTx(sql),
    agents: agentsTx(sql),
    health: healthTx(sql),
    approvals: approvalsTx(sql),
  });

  /** Runs `fn` in a transaction, working for `agentId` when given (RLS binds it to that agent's rows). */
  const inScope = <T>(agentId: string | undefined, fn: (sql: SqlExecutor) => Promise<T>): Promise<T> => {
    if (agentId === undefined) return client.transaction(fn);
    const id = scopeAgentId(agentId);
    return client.transaction(async (sql) => {
      await sql.query(`SELECT set_config('${AGENT_SCOPE_SETTING}', $1, true)`, [id]);
      return fn(sql);
    });
  };

  const forAgent = (agentId: string): AgentGovernanceStore => {
    const id = scopeAgentId(agentId);
    return {
      agentId: id,
      transaction: (fn) => inScope(id, (sql) => fn(txFor(sql))),
      listAudit: (filter) => inScope(id, (sql) => listAudit(sql, filter)),
      listApprovals: (status, page) => inScope(id, (sql) => listApprovals(sql, status, page)),
      listEscrows: (filter, page) => inScope(id, (sql) => listEscrows(sql, filter, page)),
    };
  };

  return {
    async transaction(fn, scope?: GovernanceScope) {
      return inScope(scope?.agentId, (sql) => fn(txFor(sql)));
    },

    forAgent,

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

    verifyAudit,
    auditHead: () => auditHead(client),
    auditRowAt: (seq) => auditRowAt(client, seq),
    listAudit: (filter) => listAudit(client, filter),
    listApprovals: (status, page) => listApprovals(client, status, page),
    listEscrows: (filter, page) => listEscrows(client, filter, page),
    listExpiredEscrows: (createdBefore, limit) => listExpiredEscrows(client, createdBefore, limit),
    listProbeTargets: (page) => listProbeTargets(client, page),

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

/** An agent id to scope by: plain text, never empty (empty would mean operator scope). */
function scopeAgentId(agentId: string): string {
  const id = plainText(agentId, "agentId");
  if (id === null)
    throw new ValidationError("Invalid agentId", [{ path: "agentId", message: "is required" }]);
  return id;
}
