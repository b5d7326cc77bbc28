import type { SqlExecutor } from "../../src/adapters/postgres/sql-client.js";
import {
  type AuditKey,
  canonicalAuditContent,
  GENESIS_HASH,
  signAuditRow,
} from "../../src/domain/governance/audit-chain.js";
import type { AuditEntry } from "../../src/domain/governance/governance.types.js";

/**
 * What someone holding the database owner role does to hide the end of the audit log: turn the
 * append-only triggers off, delete the last `rows` rows, rewind the chain head to the row now last
 * (so the chain verifies on its own), and turn the triggers back on. `sql` must be the owner.
 * Returns the new head seq.
 */
export async function cutAuditTail(
  owner: { transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> },
  rows: number,
): Promise<number> {
  return owner.transaction(async (tx) => {
    await tx.exec(
      "ALTER TABLE audit_logs DISABLE TRIGGER ALL; ALTER TABLE audit_chain_head DISABLE TRIGGER ALL",
    );
    const [head] = await tx.query<{ seq: string | number }>("SELECT seq FROM audit_chain_head WHERE id = 1");
    const keep = Number(head?.seq ?? 0) - rows;
    await tx.query("DELETE FROM audit_logs WHERE seq > $1", [keep]);
    const [last] = await tx.query<{ signature: string }>("SELECT signature FROM audit_logs WHERE seq = $1", [
      keep,
    ]);
    await tx.query("UPDATE audit_chain_head SET seq = $1, last_hash = $2 WHERE id = 1", [
      keep,
      last?.signature ?? GENESIS_HASH,
    ]);
    await tx.exec(
      "ALTER TABLE audit_logs ENABLE TRIGGER ALL; ALTER TABLE audit_chain_head ENABLE TRIGGER ALL",
    );
    return keep;
  });
}

/**
 * What someone holding the owner role and the HMAC key does to change history: rewrite the details of
 * row `seq` and re-sign it and every row after it, then move the head to the new last signature — a
 * chain that verifies on its own from seq 1. `rows` are the chain's rows from `seq` on and `prevHash`
 * the signature of the row before (as the store returns them).
 */
export async function rewriteAndResign(
  owner: { transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> },
  key: AuditKey,
  rows: readonly AuditEntry[],
  prevHash: string,
  details: Record<string, unknown>,
): Promise<void> {
  let prev = prevHash;
  const rewritten = rows.map((row, index) => {
    const content = index === 0 ? { ...row, details } : row;
    const signature = signAuditRow(key, canonicalAuditContent(content), prev);
    const next = { seq: row.seq, details: content.details, prev_hash: prev, signature };
    prev = signature;
    return next;
  });
  await owner.transaction(async (tx) => {
    await tx.exec(
      "ALTER TABLE audit_logs DISABLE TRIGGER ALL; ALTER TABLE audit_chain_head DISABLE TRIGGER ALL",
    );
    for (const row of rewritten) {
      await tx.query(
        "UPDATE audit_logs SET details = $2::jsonb, prev_hash = $3, signature = $4 WHERE seq = $1",
        [row.seq, JSON.stringify(row.details), row.prev_hash, row.signature],
      );
    }
    await tx.query("UPDATE audit_chain_head SET last_hash = $1 WHERE id = 1", [prev]);
    await tx.exec(
      "ALTER TABLE audit_logs ENABLE TRIGGER ALL; ALTER TABLE audit_chain_head ENABLE TRIGGER ALL",
    );
  });
}
