import type { Handler } from "aws-lambda";
import type { ReplayResult } from "../../src/domain/governance/replay.js";
import { getGovernanceReplay } from "./replay.container.js";

/** What ops pass to `aws lambda invoke`: at most `limit` messages, and who is replaying. */
interface ReplayInvocation {
  limit?: number;
  /** A name for the audit row (`ops:<operator>`); IAM decides who may invoke, CloudTrail records it. */
  operator?: string;
}

const OPERATOR_NAME = /^[A-Za-z0-9._@-]{1,64}$/;

/** On demand: re-applies the projector's failed records from its failure queue, exactly once. */
export const handler: Handler<ReplayInvocation | undefined, ReplayResult> = async (event, context) => {
  const replay = await getGovernanceReplay();
  replay.logger.addContext(context);
  const operator = event?.operator;
  const actor = operator && OPERATOR_NAME.test(operator) ? `ops:${operator}` : "ops:lambda-invoke";
  return replay.replay({ actor, ...(event?.limit !== undefined ? { limit: event.limit } : {}) });
};

/** Builds this function's container (no network call): Lambda's init phase, and the cold-start bench. */
export const init = getGovernanceReplay;
