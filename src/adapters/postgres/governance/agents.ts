import { NotFoundError, ValidationError } from "../../../domain/errors.js";
import {
  type AgentSnapshot,
  type AgentTrust,
  AUDIT_LEVELS,
  type AuditLevel,
} from "../../../domain/governance/governance.types.js";
import type { GovernanceTx } from "../../../ports/governance-store.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Page, type PageRequest } from "../../../ports/pagination.js";
import type { SqlExecutor } from "../sql-client.js";
import {
  checkScore,
  clampLimit,
  decodeCursor,
  encodeCursor,
  type Int8,
  iso,
  isoTimestamp,
  keysetPage,
  type Timestamp,
} from "./rows.js";

/** Agents' trust rows (`agent_trust`): the profile snapshot the stream projects, and the trust score. */

const AGENT_COLUMNS =
  "agent_id, bidding_endpoint, endpoint_kind, status, kill_switch_active, outcomes, successes, quality_micros, trust_score, audit_level, last_probe_score, profile_version, updated_at";

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

export function agentsTx(sql: SqlExecutor): GovernanceTx["agents"] {
  const get = async (agentId: string): Promise<AgentTrust | undefined> => {
    const [row] = await sql.query<AgentRow>(`SELECT ${AGENT_COLUMNS} FROM agent_trust WHERE agent_id = $1`, [
      agentId,
    ]);
    return row ? agentTrust(row) : undefined;
  };

  return {
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
      const stored = await get(snapshot.agent_id);
      if (!stored) throw new Error(`agent_trust row ${snapshot.agent_id} vanished during upsert`);
      return stored;
    },

    get,

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
  };
}

/** Agents the health prober should check (active, not kill-switched), by id. */
export async function listProbeTargets(sql: SqlExecutor, page: PageRequest = {}): Promise<Page<AgentTrust>> {
  const limit = clampLimit(page.limit, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const cursor = decodeCursor(page.cursor, "probe-targets");
  const rows = await sql.query<AgentRow>(
    `SELECT ${AGENT_COLUMNS} FROM agent_trust
     WHERE status = 'active' AND NOT kill_switch_active AND ($1::text IS NULL OR agent_id > $1)
     ORDER BY agent_id LIMIT $2`,
    [cursor?.id ?? null, limit + 1],
  );
  return keysetPage(rows.map(agentTrust), limit, (last) =>
    encodeCursor({ k: "probe-targets", id: last.agent_id }),
  );
}
