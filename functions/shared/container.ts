/**
 * An index of the per-function builders, for tests, the CLI and tools. No handler imports this
 * file: each handler imports its own `<function>.container.ts`, which reaches only what that function
 * uses (checked by test/infra/bundle-composition.test.ts on the esbuild metafile).
 */

export {
  databaseUrlFromSecret,
  resolveDatabaseMigrationUrl,
} from "../../src/adapters/postgres/database-url.js";
export { lazily, lazySync } from "../../src/lib/lazy.js";
export { closeEmbeddedGovernanceStores } from "../../src/local/embedded-governance.js";
export { buildRestApi, getRestApi } from "../api/rest-api.container.js";
export { buildAwardSweeper, getAwardSweeper } from "../bidding/award-sweeper.container.js";
export { buildAwardWorker, getAwardWorker } from "../bidding/award-worker.container.js";
export { buildBidWorker, getBidWorker } from "../bidding/bid-worker.container.js";
export { buildDeliveryWorker, getDeliveryWorker } from "../bidding/delivery-worker.container.js";
export { buildDispatchWorker, getDispatchWorker } from "../bidding/dispatch-worker.container.js";
export { buildTaskStreamEnqueuer, getTaskStreamEnqueuer } from "../bidding/task-stream.container.js";
export { buildAuditVerifier, getAuditVerifier } from "../governance/audit-verify.container.js";
export { buildEscrowSweeper, getEscrowSweeper } from "../governance/escrow-sweeper.container.js";
export { buildHealthProber, getHealthProber } from "../governance/health-prober.container.js";
export { buildProjector, getProjector } from "../governance/projector.container.js";
export { buildGovernanceReplay, getGovernanceReplay } from "../governance/replay.container.js";
export {
  buildReceiverDeps,
  getReceiverDeps,
  type ReceiverDeps,
} from "../webhooks/github-receiver.container.js";
export {
  buildIntakeWorker,
  buildWebhookService,
  getIntakeWorker,
} from "../webhooks/intake-worker.container.js";
export { auditAnchorSource, buildAuditAnchoring } from "./anchoring.js";
export { openGovernance } from "./governance.js";
export { buildAwardService, buildAwardTrigger, buildRepositories, type Repositories } from "./marketplace.js";
export { classifyGovernanceError } from "./replay.js";
