import { ConflictError, NotFoundError, ValidationError } from "../../../domain/errors.js";
import {
  APPROVAL_STATUSES,
  type ApprovalRequest,
  type ApprovalStatus,
  type NewApprovalRequest,
} from "../../../domain/governance/governance.types.js";
import { normalizeDecimal } from "../../../domain/governance/money.js";
import type { GovernanceTx } from "../../../ports/governance-store.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page, type PageRequest } from "../../../ports/pagination.js";
import type { SqlExecutor } from "../sql-client.js";
import {
  clampLimit,
  decodeCursor,
  encodeCursor,
  iso,
  isoTimestamp,
  keysetPage,
  type Timestamp,
} from "./rows.js";

/** Approval requests for held awards: created pending, decided once. */

const APPROVAL_COLUMNS =
  "id, task_id, agent_id, bid_amount, reason, status, requested_at, reviewer, decided_at, note";

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

export function approvalsTx(sql: SqlExecutor): GovernanceTx["approvals"] {
  const get = async (id: string, lock = false): Promise<ApprovalRequest | undefined> => {
    const [row] = await sql.query<ApprovalRow>(
      `SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE id = $1${lock ? " FOR UPDATE" : ""}`,
      [id],
    );
    return row ? approvalRequest(row) : undefined;
  };

  return {
    async create(request: NewApprovalRequest) {
      const [row] = await sql.query<ApprovalRow>(
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
      if (row) return { request: approvalRequest(row), created: true };
      const existing = await get(request.id);
      if (!existing) throw new Error(`approval request ${request.id} conflicted but cannot be read`);
      return { request: existing, created: false };
    },

    get: (id) => get(id),

    async decide(id, decision, reviewer, at, note) {
      if (decision !== "approved" && decision !== "rejected") {
        throw new ValidationError("Invalid decision", [
          { path: "decision", message: "must be approved or rejected" },
        ]);
      }
      if (reviewer.length === 0) {
        throw new ValidationError("Invalid reviewer", [{ path: "reviewer", message: "is empty" }]);
      }
      const current = await get(id, true);
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
  };
}

export async function listApprovals(
  sql: SqlExecutor,
  status: ApprovalStatus | undefined,
  page: PageRequest = {},
): Promise<Page<ApprovalRequest>> {
  if (status !== undefined && !APPROVAL_STATUSES.includes(status)) {
    throw new ValidationError("Invalid approval status", [
      { path: "status", message: `is not one of ${APPROVAL_STATUSES.join(", ")}` },
    ]);
  }
  const limit = clampLimit(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const cursor = decodeCursor(page.cursor, "approvals");
  const rows = await sql.query<ApprovalRow>(
    `SELECT ${APPROVAL_COLUMNS} FROM approval_requests
     WHERE ($1::text IS NULL OR status = $1)
       AND ($2::timestamptz IS NULL OR (requested_at, id) > ($2::timestamptz, $3::text))
     ORDER BY requested_at, id LIMIT $4`,
    [status ?? null, cursor?.at ?? null, cursor?.id ?? null, limit + 1],
  );
  return keysetPage(rows.map(approvalRequest), limit, (last) =>
    encodeCursor({ k: "approvals", at: last.requested_at, id: last.id }),
  );
}
