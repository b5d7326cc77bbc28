import type { Handler } from "aws-lambda";
import type { AnchoredAuditVerification } from "../../src/domain/governance/audit-anchor.js";
import { getAuditVerifier } from "./audit-verify.container.js";

/**
 * Walks the audit log's whole hash chain (from seq 1, no time budget: about 45 s per million rows),
 * checks it against the newest audit anchor (S3 Object Lock, signed with the KMS anchor key) and
 * returns `{ ok: true, rows, anchor, unanchored_rows, … }` or the first bad row; an intact chain is
 * anchored and moves the checkpoint that `GET /audit/verify` continues from. `{ "mode":
 * "incremental" }` walks only the rows since the newest anchor. Invoke it on demand (`aws lambda
 * invoke`) or on a schedule; a broken chain is logged as an error, which the function's error-log
 * alarm picks up.
 */
export const handler: Handler<{ mode?: unknown } | null | undefined, AnchoredAuditVerification> = async (
  event,
  context,
) => {
  const jobs = await getAuditVerifier();
  jobs.logger.addContext(context);
  const result = await jobs.verifyAudit(event?.mode === "incremental" ? "incremental" : "full");
  if (result.ok) {
    jobs.logger.info("Audit chain verified", {
      rows: result.rows,
      anchor: result.anchor,
      unanchored_rows: result.unanchored_rows,
    });
  } else jobs.logger.error("Audit chain broken", { ...result });
  return result;
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getAuditVerifier;
