import type { Logger } from "@aws-lambda-powertools/logger";
import { createApprovalService } from "../../src/domain/governance/approval.service.js";
import { createEscrowService } from "../../src/domain/governance/escrow.service.js";
import { buildGovernanceProjector } from "../governance/projector.container.js";
import type { Core } from "../shared/core.js";
import { buildAuditAnchoring, buildReplayService, openGovernance } from "../shared/governance.js";
import { buildAwardService, type Repositories } from "../shared/marketplace.js";

/**
 * The REST API's governance routes (approvals, escrows, audit verify, replay), loaded with a dynamic
 * import on the first governance request: the marketplace routes never initialise Postgres, the
 * anchors or the replay's clients.
 */
export async function openRestGovernance(core: Core, repositories: Repositories, logger: Logger) {
  const { config } = core;
  const store = await openGovernance(config);
  const anchoring = buildAuditAnchoring(config, store);
  // Only where the failure store is configured (locally; on AWS the governance-replay function).
  const replay = await buildReplayService(
    core,
    { store, projector: buildGovernanceProjector(core, store, logger) },
    logger,
  );
  return {
    approvals: createApprovalService({
      store,
      tasks: repositories.tasks,
      // Re-award on rejection, notices on approval.
      awards: buildAwardService(config, logger, core, repositories),
      logger,
    }),
    escrows: createEscrowService({ store, timeoutMs: config.escrowTimeoutMs, logger }),
    // Onward from the saved checkpoint (or from the newest anchor), and against that anchor.
    verifyAudit: (options?: { fromAnchor?: boolean }) =>
      anchoring.verify({ mode: options?.fromAnchor ? "incremental" : "checkpoint" }),
    ...(replay ? { replay: replay.replay } : {}),
  };
}
