import type { Logger } from "@aws-lambda-powertools/logger";
import type { Config } from "../../src/config.js";
import { createApprovalService } from "../../src/domain/governance/approval.service.js";
import { createEscrowService } from "../../src/domain/governance/escrow.service.js";
import { buildGovernanceProjector } from "../governance/projector.container.js";
import { buildAuditAnchoring } from "../shared/anchoring.js";
import { openGovernance } from "../shared/governance.js";
import { buildAwardService, type Repositories } from "../shared/marketplace.js";
import { buildReplayService } from "../shared/replay.js";

/**
 * The REST API's governance routes (approvals, escrows, audit verify, replay), loaded with a dynamic
 * import on the first governance request: the marketplace routes never initialise Postgres, the
 * anchors or the replay's clients.
 */
export async function openRestGovernance(config: Config, repositories: Repositories, logger: Logger) {
  const store = await openGovernance(config);
  const anchoring = buildAuditAnchoring(config, store);
  // Only where the failure store is configured (locally; on AWS the governance-replay function).
  const replay = await buildReplayService(
    config,
    { store, projector: buildGovernanceProjector(config, store, logger) },
    logger,
  );
  return {
    approvals: createApprovalService({
      store,
      tasks: repositories.tasks,
      // Re-award on rejection, notices on approval.
      awards: buildAwardService(config, logger, repositories),
      logger,
    }),
    escrows: createEscrowService({ store, timeoutMs: config.escrowTimeoutMs, logger }),
    // Onward from the saved checkpoint (or from the newest anchor), and against that anchor.
    verifyAudit: (options?: { fromAnchor?: boolean }) =>
      anchoring.verify({ mode: options?.fromAnchor ? "incremental" : "checkpoint" }),
    ...(replay ? { replay: replay.replay } : {}),
  };
}
