import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { SqlClient, SqlExecutor } from "./sql-client.js";

export interface PgliteClientOptions {
  /** Directory for the database files, created if missing; in memory when omitted. */
  dataDir?: string;
}

/**
 * An embedded PostgreSQL (PGlite: PostgreSQL in WASM, in this process) behind {@link SqlClient}.
 * PGlite has a single connection and queues every call behind a running transaction, so
 * concurrent transactions run one after another.
 */
export async function createPgliteClient(options: PgliteClientOptions = {}): Promise<SqlClient> {
  let dataDir: string | undefined;
  if (options.dataDir !== undefined) {
    dataDir = resolve(options.dataDir);
    await mkdir(dataDir, { recursive: true });
  }
  const db = await PGlite.create(dataDir);
  let closing: Promise<void> | undefined;

  return {
    kind: "pglite",
    async query<R>(text: string, params?: unknown[]) {
      return (await db.query<R>(text, params)).rows;
    },
    async exec(script) {
      await db.exec(script);
    },
    transaction(fn) {
      return db.transaction((tx) => fn(executor(tx)));
    },
    close() {
      closing ??= db.closed ? Promise.resolve() : db.close();
      return closing;
    },
  };
}

function executor(tx: Transaction): SqlExecutor {
  return {
    async query<R>(text: string, params?: unknown[]) {
      return (await tx.query<R>(text, params)).rows;
    },
    async exec(script) {
      await tx.exec(script);
    },
  };
}
