import type { AwardOutcome, AwardService } from "../../src/domain/bidding/award.service.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import type { TaskRepository } from "../../src/ports/task-repository.js";
import { issueUrl } from "./factories.js";

export interface BiddingRoundDeps {
  tasks: Pick<TaskRepository, "createTask">;
  bidding: Pick<BiddingRepository, "invite" | "acceptBid">;
  awards: Pick<AwardService, "evaluate">;
}

/**
 * A new task (capability "python") on which every invited agent bids, so the award runs at once:
 * `bids` maps agent id → amount, all sent at `sentAt`. Returns the task id and what the award did.
 */
export async function runBiddingRound(
  { tasks, bidding, awards }: BiddingRoundDeps,
  bids: ReadonlyArray<readonly [agentId: string, amount: number]>,
  { title, sentAt }: { title: string; sentAt: Date },
): Promise<{ taskId: string; outcome: AwardOutcome }> {
  const taskId = issueUrl();
  await tasks.createTask({ task_id: taskId, title, required_capabilities: ["python"] });
  await bidding.invite(
    taskId,
    bids.map(([agentId]) => agentId),
  );
  for (const [agentId, amount] of bids) {
    await bidding.acceptBid(taskId, agentId, {
      bid_amount: amount,
      estimated_completion_sec: 600,
      sent_at: sentAt.toISOString(),
    });
  }
  return { taskId, outcome: await awards.evaluate(taskId) };
}
