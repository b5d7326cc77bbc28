import pg from "pg";
import { classifyPgError, isPgUnavailableError } from "./pg-errors.js";
import type { SqlClient, SqlExecutor } from "./sql-client.js";

export interface PgClientOptions {
  /** `postgres://user:password@host:port/database`. */
  connectionString: string;
  /**
   * Schema to work in: it becomes the whole `search_path` of every connection and is created on
   * first use. Tests give each file its own. A plain lowercase identifier.
   */
  schema?: string;
  /**
   * Whether to create `schema` on first use (default true). False for the app role, which may not
   * create schemas: the migrations' owner connection made it.
   */
  createSchema?: boolean;
  /** Pool size; 10 when omitted. Keep it small in a Lambda, which runs one request at a time. */
  max?: number;
  /** How long to wait for a connection (a free pool slot, or a new one to be ready); unbounded when omitted. */
  connectionTimeoutMs?: number;
  /**
   * Server-side limit for every statement, sent as a startup parameter (never with `SET`, which would
   * pin the session on a pooling proxy such as RDS Proxy).
   */
  statementTimeoutMs?: number;
  /**
   * Client-side limit on waiting for a query's answer. The statement timeout cannot bound a server
   * that stopped answering altogether (a dropped network); this does.
   */
  queryTimeoutMs?: number;
  /** The server ends a session left idle inside a transaction this long (its locks go with it). */
  idleInTransactionTimeoutMs?: number;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A PostgreSQL server behind {@link SqlClient}, on a `pg.Pool`. Each transaction checks out one
 * connection for BEGIN … COMMIT; a connection whose ROLLBACK failed is discarded, not reused.
 */
export function createPgClient(options: PgClientOptions): SqlClient {
  const { schema } = options;
  if (schema !== undefined && !IDENTIFIER.test(schema)) {
    throw new Error(`Invalid schema name ${JSON.stringify(schema)}: use lowercase letters, digits and _`);
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: "agentforge",
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    ...(options.connectionTimeoutMs !== undefined
      ? { connectionTimeoutMillis: options.connectionTimeoutMs }
      : {}),
    ...(options.statementTimeoutMs !== undefined ? { statement_timeout: options.statementTimeoutMs } : {}),
    ...(options.queryTimeoutMs !== undefined ? { query_timeout: options.queryTimeoutMs } : {}),
    ...(options.idleInTransactionTimeoutMs !== undefined
      ? { idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs }
      : {}),
  });
  // An idle connection that the server drops emits `error` on the pool; without a listener Node
  // would crash the process. The next checkout simply opens a new connection.
  pool.on("error", () => {});

  let ready: Promise<void> | undefined;
  const ensureSchema = (): Promise<void> => {
    if (!schema || options.createSchema === false) return Promise.resolve();
    // Looked up first: a role that may not create schemas (the app role) must still start.
    ready ??= pool
      .query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema])
      .then((found) => (found.rowCount ? undefined : pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)))
      .then(
        () => undefined,
        (error: unknown) => {
          // Two processes creating the same schema at once: the loser sees a duplicate, which is fine.
          const code = (error as { code?: string }).code;
          if (code === "42P06" || code === "23505") return;
          ready = undefined;
          throw error;
        },
      );
    return ready;
  };

  let closing: Promise<void> | undefined;

  return {
    kind: "pg",
    async query<R>(text: string, params?: unknown[]) {
      try {
        await ensureSchema();
        const result = await pool.query(text, params);
        return result.rows as R[];
      } catch (error) {
        throw classifyPgError(error);
      }
    },
    async exec(script) {
      try {
        await ensureSchema();
        await pool.query(script);
      } catch (error) {
        throw classifyPgError(error);
      }
    },
    async transaction(fn) {
      let connection: pg.PoolClient;
      try {
        await ensureSchema();
        connection = await pool.connect();
      } catch (error) {
        throw classifyPgError(error);
      }
      // A checked-out connection has no pool listener; an error event with no listener would crash.
      const ignore = () => {};
      connection.on("error", ignore);
      let finished = false;
      let discard = false;
      const tx: SqlExecutor = {
        async query<R>(text: string, params?: unknown[]) {
          if (finished) throw new Error("This transaction has already ended");
          return (await connection.query(text, params)).rows as R[];
        },
        async exec(script) {
          if (finished) throw new Error("This transaction has already ended");
          await connection.query(script);
        },
      };
      try {
        await connection.query("BEGIN");
        const result = await fn(tx);
        await connection.query("COMMIT");
        return result;
      } catch (error) {
        if (isPgUnavailableError(error)) {
          // A ROLLBACK would wait out the query timeout again on a dead connection; dropping the
          // connection rolls the transaction back on the server all the same.
          discard = true;
        } else {
          await connection.query("ROLLBACK").catch(() => {
            discard = true;
          });
        }
        throw classifyPgError(error);
      } finally {
        finished = true;
        connection.off("error", ignore);
        connection.release(discard);
      }
    },
    close() {
      closing ??= pool.end();
      return closing;
    },
  };
}
