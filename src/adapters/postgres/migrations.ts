import { createHash } from "node:crypto";
import { type SqlClient, sqlState } from "./sql-client.js";

/** SQLSTATE of a refused UPDATE, DELETE or TRUNCATE on `audit_logs`. */
export const SQLSTATE_APPEND_ONLY = "AF001";
/** SQLSTATE of an escrow status move outside the state machine (domain/governance/escrow.ts). */
export const SQLSTATE_ILLEGAL_TRANSITION = "AF002";

/** A schema change, applied once, in order, in its own transaction. Never edit one that shipped. */
export interface Migration {
  id: string;
  sql: string;
}

// Only PostgreSQL 15 features: servers run 15 while PGlite is 18. Kept as strings so esbuild bundles
// them into the Lambda without a file loader.
const GOVERNANCE = `
CREATE TABLE audit_logs (
  seq          bigint PRIMARY KEY CHECK (seq > 0),
  agent_id     text NULL,
  action       text NOT NULL,
  resource     text NOT NULL,
  actor        text NOT NULL,
  success      boolean NOT NULL,
  cost         numeric(20,6) NULL CHECK (cost >= 0),
  details      jsonb NOT NULL DEFAULT '{}',
  occurred_at  timestamptz NOT NULL,
  prev_hash    text NOT NULL,
  signature    text NOT NULL
);
CREATE INDEX audit_logs_agent_seq ON audit_logs (agent_id, seq);

CREATE FUNCTION audit_logs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
    USING ERRCODE = '${SQLSTATE_APPEND_ONLY}',
          HINT = 'Audit rows are written by the store''s append and never changed.';
END
$$;
CREATE TRIGGER audit_logs_no_update_delete BEFORE UPDATE OR DELETE ON audit_logs
  FOR EACH ROW EXECUTE FUNCTION audit_logs_refuse_change();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
  FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_refuse_change();

-- Every append locks this row (SELECT ... FOR UPDATE), which serialises appends, and moves it on in
-- the same transaction; a rolled-back append therefore leaves no gap. It also records the tail, so
-- a deleted last row is detectable.
CREATE TABLE audit_chain_head (
  id         integer PRIMARY KEY CHECK (id = 1),
  seq        bigint NOT NULL CHECK (seq >= 0),
  last_hash  text NOT NULL
);
INSERT INTO audit_chain_head (id, seq, last_hash) VALUES (1, 0, repeat('0', 64));

CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'audit_chain_head only moves forward one append at a time (% refused)', TG_OP
      USING ERRCODE = '${SQLSTATE_APPEND_ONLY}';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE OR DELETE ON audit_chain_head
  FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only();

CREATE TABLE escrows (
  id                uuid PRIMARY KEY,
  task_id           text NOT NULL,
  agent_id          text NOT NULL,
  worker_wallet     text NULL,
  amount            numeric(20,6) NOT NULL CHECK (amount >= 0),
  status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'released', 'refunded', 'disputed')),
  task_description  text NULL,
  settled_at        timestamptz NULL,
  resolved_by       text NULL CHECK (resolved_by IN ('judge', 'api', 'timeout')),
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  CONSTRAINT escrows_task_agent_key UNIQUE (task_id, agent_id),
  CONSTRAINT escrows_final_is_settled
    CHECK (status NOT IN ('released', 'refunded') OR (settled_at IS NOT NULL AND resolved_by IS NOT NULL))
);
CREATE INDEX escrows_status_created ON escrows (status, created_at, id);
CREATE INDEX escrows_agent ON escrows (agent_id);

-- The same status graph as ESCROW_TRANSITIONS in domain/governance/escrow.ts (who may move is
-- checked there). An escrow is born pending, and released/refunded rows never change again.
CREATE FUNCTION escrows_enforce_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' THEN
      RAISE EXCEPTION 'escrow % must be created pending, not %', NEW.id, NEW.status
        USING ERRCODE = '${SQLSTATE_ILLEGAL_TRANSITION}';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status IN ('released', 'refunded') THEN
    RAISE EXCEPTION 'escrow % is % (final) and cannot change', OLD.id, OLD.status
      USING ERRCODE = '${SQLSTATE_ILLEGAL_TRANSITION}';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
       (OLD.status = 'pending' AND NEW.status IN ('released', 'disputed', 'refunded'))
    OR (OLD.status = 'disputed' AND NEW.status IN ('released', 'refunded'))
  ) THEN
    RAISE EXCEPTION 'escrow % cannot move from % to %', OLD.id, OLD.status, NEW.status
      USING ERRCODE = '${SQLSTATE_ILLEGAL_TRANSITION}';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER escrows_enforce_transition BEFORE INSERT OR UPDATE ON escrows
  FOR EACH ROW EXECUTE FUNCTION escrows_enforce_transition();

CREATE TABLE health_metrics (
  id                 bigserial PRIMARY KEY,
  agent_id           text NOT NULL,
  uptime_percentage  double precision NOT NULL CHECK (uptime_percentage >= 0 AND uptime_percentage <= 100),
  error_rate         double precision NOT NULL CHECK (error_rate >= 0 AND error_rate <= 1),
  avg_latency_ms     integer NOT NULL CHECK (avg_latency_ms >= 0),
  recorded_at        timestamptz NOT NULL
);
CREATE INDEX health_metrics_agent_recorded ON health_metrics (agent_id, recorded_at);

-- Keys that pages are ordered by use byte order ("C"), so keyset cursors and the order of a page
-- do not depend on the server's locale.
CREATE TABLE agent_trust (
  agent_id            text COLLATE "C" PRIMARY KEY,
  bidding_endpoint    text NOT NULL,
  endpoint_kind       text NOT NULL CHECK (endpoint_kind IN ('sqs', 'https')),
  status              text NOT NULL CHECK (status IN ('active', 'suspended')),
  kill_switch_active  boolean NOT NULL DEFAULT false,
  outcomes            integer NOT NULL DEFAULT 0 CHECK (outcomes >= 0),
  successes           integer NOT NULL DEFAULT 0 CHECK (successes >= 0),
  quality_micros      bigint NOT NULL DEFAULT 0,
  trust_score         integer NOT NULL DEFAULT 50 CHECK (trust_score >= 0 AND trust_score <= 100),
  audit_level         text NOT NULL DEFAULT 'Silver' CHECK (audit_level IN ('Bronze', 'Silver', 'Gold', 'Platinum')),
  last_probe_score    integer NULL CHECK (last_probe_score >= 0 AND last_probe_score <= 100),
  profile_version     integer NOT NULL,
  updated_at          timestamptz NOT NULL
);
CREATE INDEX agent_trust_probe_targets ON agent_trust (agent_id)
  WHERE status = 'active' AND NOT kill_switch_active;

CREATE TABLE approval_requests (
  id            text COLLATE "C" PRIMARY KEY,
  task_id       text NOT NULL,
  agent_id      text NOT NULL,
  bid_amount    numeric(20,6) NOT NULL CHECK (bid_amount >= 0),
  reason        text NOT NULL,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
  requested_at  timestamptz NOT NULL,
  reviewer      text NULL,
  decided_at    timestamptz NULL,
  note          text NULL,
  CONSTRAINT approval_requests_decided_has_reviewer
    CHECK (status = 'pending' OR (reviewer IS NOT NULL AND decided_at IS NOT NULL))
);
CREATE INDEX approval_requests_status_requested ON approval_requests (status, requested_at, id);
CREATE INDEX approval_requests_requested ON approval_requests (requested_at, id);

CREATE TABLE projected_events (
  event_key   text PRIMARY KEY,
  applied_at  timestamptz NOT NULL
);
`;

// Where incremental audit verification got to: one row, the last verified seq and that row's
// signature, HMAC-signed with the audit key (mac) so that nobody without it can move the checkpoint
// past a row it did not verify. It only moves forward (the store's upsert says so).
const AUDIT_VERIFICATION_CHECKPOINT = `
CREATE TABLE audit_verification_checkpoint (
  id           integer PRIMARY KEY CHECK (id = 1),
  seq          bigint NOT NULL CHECK (seq > 0),
  signature    text NOT NULL,
  verified_at  timestamptz NOT NULL,
  mac          text NOT NULL
);
`;

// GET /escrows pages by (created_at, id), alone or after an agent filter (a task has one escrow per
// agent, so its unique key serves that filter). The new agent index replaces the old one.
const ESCROW_PAGES = `
CREATE INDEX escrows_created ON escrows (created_at, id);
CREATE INDEX escrows_agent_created ON escrows (agent_id, created_at, id);
DROP INDEX escrows_agent;
`;

// Health samples now come from the prober and from the delivery circuit breaker; existing rows are
// probes. The app role's INSERT grant on the table covers the new column.
const HEALTH_METRIC_SOURCE = `
ALTER TABLE health_metrics ADD COLUMN source text NOT NULL DEFAULT 'probe'
  CHECK (source IN ('probe', 'delivery'));
`;

/**
 * The group role the application works as: it may read and append the audit log but not change or
 * delete a row, not rewind the chain head, and not disable a trigger (only a table's owner can), and
 * row-level security binds it. NOLOGIN: a server's login user for the app is granted it (README,
 * "Two database roles"); PGlite switches its session to it after migrating.
 */
export const APP_ROLE = "agentforge_app";

// The app role, created once per cluster (roles are cluster-wide, so two migrators in different
// schemas may race to create it: the loser's duplicate is fine), and its grants on this schema.
// Row-level security keys on the transaction's agentforge.agent_id (set by the store for work done
// for an agent): unset or empty = operator/system work, which sees every row; set = only that
// agent's rows. ENABLE, not FORCE: the owner (migrations, repairs) is not bound.
const AGENT_SCOPE = "coalesce(current_setting('agentforge.agent_id', true), '') IN ('', agent_id)";
const APP_ROLE_AND_ROW_SECURITY = `
ALTER TABLE audit_logs ADD COLUMN key_id text NULL CHECK (key_id ~ '^[A-Za-z0-9._-]{1,64}$');
ALTER TABLE audit_verification_checkpoint ADD COLUMN key_id text NULL;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
    BEGIN
      CREATE ROLE ${APP_ROLE} NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'the migrating role % may not create the role ${APP_ROLE}', current_user
          USING ERRCODE = 'insufficient_privilege',
                HINT = 'Create it once as a role that may (CREATE ROLE ${APP_ROLE} NOLOGIN), then migrate again.';
    END;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO ${APP_ROLE}', current_schema());
END
$$;

GRANT SELECT ON schema_migrations TO ${APP_ROLE};
GRANT SELECT, INSERT ON audit_logs TO ${APP_ROLE};
GRANT SELECT, UPDATE ON audit_chain_head TO ${APP_ROLE};
GRANT SELECT, INSERT, UPDATE ON audit_verification_checkpoint TO ${APP_ROLE};
GRANT SELECT, INSERT, UPDATE ON escrows, agent_trust, approval_requests TO ${APP_ROLE};
GRANT SELECT, INSERT ON health_metrics, projected_events TO ${APP_ROLE};
GRANT USAGE ON SEQUENCE health_metrics_id_seq TO ${APP_ROLE};

ALTER TABLE escrows ENABLE ROW LEVEL SECURITY;
CREATE POLICY escrows_agent_scope ON escrows FOR ALL TO ${APP_ROLE}
  USING (${AGENT_SCOPE}) WITH CHECK (${AGENT_SCOPE});
ALTER TABLE agent_trust ENABLE ROW LEVEL SECURITY;
CREATE POLICY agent_trust_agent_scope ON agent_trust FOR ALL TO ${APP_ROLE}
  USING (${AGENT_SCOPE}) WITH CHECK (${AGENT_SCOPE});
ALTER TABLE health_metrics ENABLE ROW LEVEL SECURITY;
CREATE POLICY health_metrics_agent_scope ON health_metrics FOR ALL TO ${APP_ROLE}
  USING (${AGENT_SCOPE}) WITH CHECK (${AGENT_SCOPE});
ALTER TABLE approval_requests ENABLE ROW LEVEL SECURITY;
CREATE POLICY approval_requests_agent_scope ON approval_requests FOR ALL TO ${APP_ROLE}
  USING (${AGENT_SCOPE}) WITH CHECK (${AGENT_SCOPE});
-- Work for an agent reads and appends only that agent's audit rows (rows without an agent are
-- operator/system rows); there is no UPDATE or DELETE to allow.
ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_logs_agent_read ON audit_logs FOR SELECT TO ${APP_ROLE} USING (${AGENT_SCOPE});
CREATE POLICY audit_logs_agent_append ON audit_logs FOR INSERT TO ${APP_ROLE} WITH CHECK (${AGENT_SCOPE});
`;

/** Every migration, oldest first. Append new ones; never reorder or edit applied ones. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { id: "0001_governance", sql: GOVERNANCE },
  { id: "0002_audit_verification_checkpoint", sql: AUDIT_VERIFICATION_CHECKPOINT },
  { id: "0003_escrow_pages", sql: ESCROW_PAGES },
  { id: "0004_app_role_and_row_security", sql: APP_ROLE_AND_ROW_SECURITY },
  { id: "0005_health_metric_source", sql: HEALTH_METRIC_SOURCE },
]);

// Advisory lock class for migrations; the object id is the schema, so test schemas do not queue.
const LOCK_CLASS = 0x41464d47;
const LOCK = `SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext(coalesce(current_schema(), '')))`;

/**
 * Brings the current schema up to date: creates `schema_migrations`, then applies each missing
 * migration in its own transaction together with its bookkeeping row. Concurrent migrators (two
 * Lambdas starting at once) queue on a transaction-scoped advisory lock and re-check under it, so
 * each migration runs once. Idempotent. Throws if an applied migration's text has since changed.
 *
 * @returns the ids it applied (empty when the schema was current)
 */
export async function migrate(
  client: SqlClient,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<string[]> {
  await client.transaction(async (tx) => {
    await tx.query(LOCK);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id          text PRIMARY KEY,
      checksum    text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT now()
    )`);
  });

  const applied: string[] = [];
  for (const migration of migrations) {
    const checksum = checksumOf(migration);
    const ran = await client.transaction(async (tx) => {
      await tx.query(LOCK);
      const [existing] = await tx.query<{ checksum: string }>(
        "SELECT checksum FROM schema_migrations WHERE id = $1",
        [migration.id],
      );
      if (existing) {
        if (existing.checksum !== checksum) {
          throw new Error(
            `Migration ${migration.id} was changed after it was applied; add a new migration instead`,
          );
        }
        return false;
      }
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (id, checksum) VALUES ($1, $2)", [
        migration.id,
        checksum,
      ]);
      return true;
    });
    if (ran) applied.push(migration.id);
  }
  return applied;
}

/** The database is not at the migrations this code expects, and this connection may not migrate it. */
export class MigrationsPendingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MigrationsPendingError";
  }
}

/**
 * The ids of migrations not applied yet, read without DDL (all of them when `schema_migrations`
 * does not exist). An applied migration whose text changed since is a {@link MigrationsPendingError}.
 */
export async function pendingMigrations(
  client: SqlClient,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<string[]> {
  let rows: Array<{ id: string; checksum: string }>;
  try {
    rows = await client.query<{ id: string; checksum: string }>("SELECT id, checksum FROM schema_migrations");
  } catch (error) {
    if (sqlState(error) !== "42P01") throw error;
    rows = [];
  }
  const applied = new Map(rows.map((row) => [row.id, row.checksum]));
  for (const migration of migrations) {
    const checksum = applied.get(migration.id);
    if (checksum !== undefined && checksum !== checksumOf(migration)) {
      throw new MigrationsPendingError(
        `Migration ${migration.id} was changed after it was applied; add a new migration instead`,
      );
    }
  }
  return migrations.filter((m) => !applied.has(m.id)).map((m) => m.id);
}

/**
 * Switches a PGlite session to {@link APP_ROLE} once migrations ran as its built-in superuser, so
 * the grants and row-level security bind the store as on a server. PGlite is single-user: the same
 * process could RESET ROLE, so this guards against mistakes, not against the process itself.
 */
export async function useAppRole(client: SqlClient): Promise<void> {
  await client.exec(`SET ROLE ${APP_ROLE}`);
}

function checksumOf(migration: Migration): string {
  return createHash("sha256").update(migration.sql).digest("hex");
}
