import { getAuditVerifier } from "../../functions/governance/audit-verify.container.js";
import { auditText } from "./format.js";

/**
 * `npm run audit:verify`: walks the audit log's hash chain of the configured governance store
 * (DATABASE_URL, else PGlite in AGENTFORGE_DATA_DIR) from seq 1, checks it against the newest audit
 * anchor, and prints "ok" or the first bad row, with the anchor and the rows after it. An intact chain
 * is then anchored. `--from-anchor` walks only the rows since the newest anchor.
 * Exit code 0 when the chain verifies, 1 when it does not, 2 when it could not be checked.
 */
const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== "--from-anchor");
let jobs: Awaited<ReturnType<typeof getAuditVerifier>> | undefined;
try {
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown[0]} (only --from-anchor)`);
  jobs = await getAuditVerifier();
  const result = await jobs.verifyAudit(args.includes("--from-anchor") ? "incremental" : "full");
  console.log(auditText(result));
  process.exitCode = result.ok ? 0 : 1;
} catch (error) {
  console.error(`audit verify: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
} finally {
  // An open PGlite (or pg pool) would keep the process alive after the answer.
  await jobs?.close().catch(() => {});
}
