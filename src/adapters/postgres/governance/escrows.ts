import { ConflictError, NotFoundError, ValidationError } from "../../../domain/errors.js";
import { planEscrowMove } from "../../../domain/governance/escrow.js";
import {
  ESCROW_STATUSES,
  type Escrow,
  type EscrowResolver,
  type EscrowStatus,
  type NewEscrow,
} from "../../../domain/governance/governance.types.js";
import { normalizeDecimal } from "../../../domain/governance/money.js";
import type { GovernanceTx } from "../../../ports/governance-store.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page, type PageRequest } from "../../../ports/pagination.js";
import { SQLSTATE_ILLEGAL_TRANSITION } from "../migrations.js";
import { type SqlExecutor, sqlState } from "../sql-client.js";
import {
  clampLimit,
  decodeCursor,
  encodeCursor,
  iso,
  isoTimestamp,
  keysetPage,
  MAX_LIST_LIMIT,
  plainText,
  type Timestamp,
  UUID,
} from "./rows.js";

/** Escrows: one per award, moved by the rules of domain/governance/escrow.ts (and a trigger). */

const ESCROW_COLUMNS =
  "id, task_id, agent_id, worker_wallet, amount, status, task_description, created_at, settled_at, resolved_by, updated_at";

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

async function getEscrow(sql: SqlExecutor, id: string, lock: boolean): Promise<Escrow | undefined> {
  if (!UUID.test(id)) return undefined;
  const [row] = await sql.query<EscrowRow>(
    `SELECT ${ESCROW_COLUMNS} FROM escrows WHERE id = $1${lock ? " FOR UPDATE" : ""}`,
    [id],
  );
  return row ? escrow(row) : undefined;
}

export function escrowsTx(sql: SqlExecutor): GovernanceTx["escrows"] {
  return {
    async create(input: NewEscrow) {
      if (!UUID.test(input.id)) {
        throw new ValidationError("Invalid escrow id", [{ path: "id", message: "must be a UUID" }]);
      }
      const id = input.id.toLowerCase();
      const at = isoTimestamp(input.created_at, "created_at");
      const [row] = await sql.query<EscrowRow>(
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
      if (row) return { escrow: escrow(row), created: true };
      const existing = await getEscrow(sql, id, false);
      if (!existing) {
        throw new ConflictError(
          `Task ${input.task_id} already has an escrow for ${input.agent_id} under another id`,
          { reason: "DUPLICATE_ESCROW", task_id: input.task_id, agent_id: input.agent_id },
        );
      }
      return { escrow: existing, created: false };
    },

    get: (id) => getEscrow(sql, id, false),
    getForUpdate: (id) => getEscrow(sql, id, true),

    async transition(id, to, resolvedBy, at) {
      const when = isoTimestamp(at, "at");
      const current = await getEscrow(sql, id, true);
      if (!current) throw new NotFoundError("escrow", id);
      const move = planEscrowMove(current, to, resolvedBy, when);
      try {
        const [row] = await sql.query<EscrowRow>(
          `UPDATE escrows SET status = $2, updated_at = $3, settled_at = $4, resolved_by = $5
           WHERE id = $1 RETURNING ${ESCROW_COLUMNS}`,
          [current.id, move.status, move.updated_at, move.settled_at, move.resolved_by],
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
  };
}

export async function listEscrows(
  sql: SqlExecutor,
  filter: { taskId?: string; agentId?: string; status?: EscrowStatus },
  page: PageRequest = {},
): Promise<Page<Escrow>> {
  if (filter.status !== undefined && !ESCROW_STATUSES.includes(filter.status)) {
    throw new ValidationError("Invalid escrow status", [
      { path: "status", message: `is not one of ${ESCROW_STATUSES.join(", ")}` },
    ]);
  }
  const limit = clampLimit(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const cursor = decodeCursor(page.cursor, "escrows");
  const rows = await sql.query<EscrowRow>(
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
}

export async function listExpiredEscrows(
  sql: SqlExecutor,
  createdBefore: string,
  limit: number,
): Promise<Escrow[]> {
  const rows = await sql.query<EscrowRow>(
    `SELECT ${ESCROW_COLUMNS} FROM escrows
     WHERE status = 'pending' AND created_at < $1
     ORDER BY created_at, id LIMIT $2`,
    [isoTimestamp(createdBefore, "createdBefore"), clampLimit(limit, DEFAULT_PAGE_SIZE, MAX_LIST_LIMIT)],
  );
  return rows.map(escrow);
}
