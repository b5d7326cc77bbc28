import {
  type AuditCheckpoint,
  type AuditKeyring,
  auditCheckpointMatches,
  canonicalJson,
  createAuditChainVerifier,
  nextAuditEntry,
  signAuditCheckpointWith,
} from "../../../domain/governance/audit-chain.js";
import type {
  AuditEntry,
  AuditEntryInput,
  AuditVerification,
} from "../../../domain/governance/governance.types.js";
import { normalizeDecimal } from "../../../domain/governance/money.js";
import {
  type AuditHeadRow,
  type AuditVerifyOptions,
  DEFAULT_AUDIT_VERIFY_BUDGET_MS,
  type GovernanceTx,
} from "../../../ports/governance-store.js";
import type { SqlClient, SqlExecutor } from "../sql-client.js";
import { clampLimit, type Int8, iso, MAX_LIST_LIMIT, plainText, type Timestamp } from "./rows.js";

/**
 * The audit log: appends (one locked chain head, the row built and signed by
 * domain/governance/audit-chain.ts) and the reads and verification walk over it.
 */

/**
 * The columns every audit row has, in the order of {@link auditRowParams}. A row inserted with only
 * these is a legacy row (no key id), verified with the keyring's legacy key.
 */
export const AUDIT_COLUMNS =
  "seq, agent_id, action, resource, actor, success, cost, details, occurred_at, prev_hash, signature";
/** {@link AUDIT_COLUMNS} and the signing key's id: what the store writes and reads. */
const AUDIT_ROW_COLUMNS = `${AUDIT_COLUMNS}, key_id`;

const DEFAULT_AUDIT_LIMIT = 100;

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
  key_id: string | null;
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
    key_id: row.key_id,
  };
}

const HEAD = "SELECT seq, last_hash FROM audit_chain_head WHERE id = 1";

async function readHead(sql: SqlExecutor, lock = false): Promise<AuditHeadRow> {
  const [head] = await sql.query<{ seq: Int8; last_hash: string }>(lock ? `${HEAD} FOR UPDATE` : HEAD);
  if (!head) throw new Error("audit_chain_head has no row: the governance migration did not run");
  return { seq: Number(head.seq), last_hash: head.last_hash };
}

/** The audit part of a transaction: appends serialise on the chain head's row lock. */
export function auditTx(sql: SqlExecutor, keyring: AuditKeyring): GovernanceTx["audit"] {
  return {
    async append(input: AuditEntryInput) {
      const head = await readHead(sql, true);
      const entry = nextAuditEntry(head, input, keyring);
      await sql.query(
        `INSERT INTO audit_logs (${AUDIT_ROW_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12)`,
        [...auditRowParams(entry), entry.key_id ?? null],
      );
      await sql.query("UPDATE audit_chain_head SET seq = $1, last_hash = $2 WHERE id = 1", [
        entry.seq,
        entry.signature,
      ]);
      return entry;
    },
  };
}

export const auditHead = (sql: SqlExecutor): Promise<AuditHeadRow> => readHead(sql);

export async function auditRowAt(sql: SqlExecutor, seq: number): Promise<AuditEntry | undefined> {
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  const [row] = await sql.query<AuditRow>(`SELECT ${AUDIT_ROW_COLUMNS} FROM audit_logs WHERE seq = $1`, [
    seq,
  ]);
  return row ? auditEntry(row) : undefined;
}

export async function listAudit(
  sql: SqlExecutor,
  options: { agentId?: string; afterSeq?: number; limit?: number } = {},
): Promise<AuditEntry[]> {
  const limit = clampLimit(options.limit, DEFAULT_AUDIT_LIMIT, MAX_LIST_LIMIT);
  const rows = await sql.query<AuditRow>(
    `SELECT ${AUDIT_ROW_COLUMNS} FROM audit_logs
     WHERE ($1::text IS NULL OR agent_id = $1) AND seq > $2
     ORDER BY seq LIMIT $3`,
    [plainText(options.agentId, "agentId"), Math.max(0, Math.trunc(options.afterSeq ?? 0)), limit],
  );
  return rows.map(auditEntry);
}

export interface AuditVerifierOptions {
  client: SqlClient;
  keyring: AuditKeyring;
  now: () => Date;
  /** Rows per round trip (and per time-budget check). */
  pageSize: number;
}

/**
 * {@link GovernanceStore.verifyAudit}: walks the chain page by page from the saved checkpoint (or
 * `resumeFrom`, or seq 1) and moves the checkpoint over the rows that verified.
 */
export function createAuditVerify({ client, keyring, now, pageSize }: AuditVerifierOptions) {
  /**
   * One page of the chain after `after`, and the chain head: both from one snapshot, so appends
   * committing meanwhile cannot look like a tampered tail. Each page is its own short read-only
   * transaction; the rows before it are append-only, so earlier pages stay valid.
   */
  const readPage = (after: number) =>
    client.transaction(async (sql) => {
      await sql.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      const rows = await sql.query<AuditRow>(
        `SELECT ${AUDIT_ROW_COLUMNS} FROM audit_logs WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [after, pageSize],
      );
      return { rows, head: await readHead(sql) };
    });

  /** The saved checkpoint; `valid` is false when its MAC does not verify (forged, or a key not held). */
  const readCheckpoint = async () => {
    const [row] = await client.query<{
      seq: Int8;
      signature: string;
      verified_at: Timestamp;
      mac: string;
      key_id: string | null;
    }>("SELECT seq, signature, verified_at, mac, key_id FROM audit_verification_checkpoint WHERE id = 1");
    if (!row) return undefined;
    const checkpoint: AuditCheckpoint = {
      seq: Number(row.seq),
      signature: row.signature,
      verified_at: iso(row.verified_at),
      key_id: row.key_id,
    };
    return { checkpoint, valid: auditCheckpointMatches(keyring, checkpoint, row.mac) };
  };

  /** Moves the checkpoint forward (never back, whoever saves last), or over a forged one. */
  const saveCheckpoint = (progress: Omit<AuditCheckpoint, "key_id">, replaceForged: boolean) => {
    const { checkpoint, mac } = signAuditCheckpointWith(keyring, progress);
    return client.query(
      `INSERT INTO audit_verification_checkpoint (id, seq, signature, verified_at, mac, key_id)
       VALUES (1, $1, $2, $3, $4, $6)
       ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, signature = EXCLUDED.signature,
         verified_at = EXCLUDED.verified_at, mac = EXCLUDED.mac, key_id = EXCLUDED.key_id
       WHERE audit_verification_checkpoint.seq <= EXCLUDED.seq OR $5::boolean`,
      [checkpoint.seq, checkpoint.signature, checkpoint.verified_at, mac, replaceForged, checkpoint.key_id],
    );
  };

  return async (options: AuditVerifyOptions = {}): Promise<AuditVerification> => {
    const full = options.full === true;
    const budgetMs = full
      ? Number.POSITIVE_INFINITY
      : Math.max(0, options.budgetMs ?? DEFAULT_AUDIT_VERIFY_BUDGET_MS);
    const deadline = performance.now() + budgetMs;
    const resumeFrom = full ? undefined : options.resumeFrom;
    const saved = full || resumeFrom ? undefined : await readCheckpoint();
    const checkpoint = resumeFrom ?? (saved?.valid ? saved.checkpoint : undefined);
    const verifier = createAuditChainVerifier(keyring, checkpoint);
    // An incremental walk starts at the checkpoint row itself, to check it again.
    let after = checkpoint ? checkpoint.seq - 1 : 0;
    let result: AuditVerification;
    for (;;) {
      const { rows, head } = await readPage(after);
      if (!rows.every((row) => verifier.push(auditEntry(row)))) {
        result = verifier.progress();
        break;
      }
      after = Number(rows.at(-1)?.seq ?? after);
      // At the head, or past it (rows added outside the append path, which finish reports).
      if (rows.length < pageSize || after >= head.seq) {
        result = verifier.finish(head);
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
  };
}
