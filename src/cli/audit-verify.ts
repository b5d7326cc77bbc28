import { getGovernanceJobs } from "../../functions/shared/container.js";

/**
 * `npm run audit:verify`: walks the audit log's hash chain of the configured governance store
 * (DATABASE_URL, else PGlite in AGENTFORGE_DATA_DIR) and prints "ok" or the first bad row.
 * Exit code 0 when the chain verifies, 1 when it does not, 2 when it could not be checked.
 */
let jobs: Awaited<ReturnType<typeof getGovernanceJobs>> | undefined;
try {
  jobs = await getGovernanceJobs();
  const result = await jobs.verifyAudit();
  if (result.ok) {
    console.log(`ok: ${result.rows} audit rows verified`);
    process.exitCode = 0;
  } else {
    console.log(
      `BROKEN at seq ${result.first_bad_seq}: ${result.reason} (${result.rows_checked} rows verified before it)`,
    );
    process.exitCode = 1;
  }
} catch (error) {
  console.error(`audit verify: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 2;
} finally {
  // An open PGlite (or pg pool) would keep the process alive after the answer.
  await jobs?.close().catch(() => {});
}
