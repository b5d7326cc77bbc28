import type { Handler } from "aws-lambda";
import type { AuditVerification } from "../../src/domain/governance/governance.types.js";
import { getGovernanceJobs } from "../shared/container.js";

/**
 * Walks the audit log's whole hash chain (from seq 1, no time budget: about 45 s per million rows)
 * and returns `{ ok: true, rows, … }` or the first bad row; a clean walk also moves the checkpoint
 * that `GET /audit/verify` continues from. Invoke it
 * on demand (`aws lambda invoke`) or on a schedule; a broken chain is logged as an error, which the
 * function's error-log alarm picks up.
 */
export const handler: Handler<unknown, AuditVerification> = async (_event, context) => {
  const jobs = await getGovernanceJobs();
  jobs.logger.addContext(context);
  const result = await jobs.verifyAudit();
  if (result.ok) jobs.logger.info("Audit chain verified", { rows: result.rows });
  else jobs.logger.error("Audit chain broken", { ...result });
  return result;
};
