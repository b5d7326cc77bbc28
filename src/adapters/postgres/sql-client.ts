/**
 * The little of a PostgreSQL driver the adapters need, implemented over PGlite (embedded) and `pg`
 * (server), so one store and one set of migrations run on both. Both drivers return `numeric` and
 * (on `pg`) `bigint` as strings and `timestamptz` as `Date`; mapping rows is the caller's job.
 */
export interface SqlExecutor {
  /** One statement with `$1`-style parameters; returns its rows. */
  query<R>(text: string, params?: unknown[]): Promise<R[]>;
  /** A script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/** A connection (PGlite) or pool (`pg`) that can also run transactions. */
export interface SqlClient extends SqlExecutor {
  readonly kind: "pglite" | "pg";
  /**
   * Runs `fn` between BEGIN and COMMIT on one connection, rolling back if it throws. Inside `fn`,
   * use only `tx`: on PGlite the client itself waits for the transaction to end, so using it there
   * deadlocks. After a failed statement PostgreSQL refuses every further one until the rollback, so
   * an error inside `fn` should end the transaction rather than be swallowed.
   */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Ends the client; later calls fail. Safe to call twice. */
  close(): Promise<void>;
}

/** The SQLSTATE of a database error from either driver, if `error` is one. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
