import { type AgentProfile, isListed } from "../agents/agent.types.js";
import type { Task, TaskRecord } from "../tasks/task.types.js";
import type { DeliveryJob } from "./delivery.js";

const OUTBID = "OUTBID: another bid ranked higher under the marketplace's published scoring rule";
const INELIGIBLE = "INELIGIBLE: the agent was suspended or kill-switched before the award";
const APPROVAL_REJECTED = "APPROVAL_REJECTED: a reviewer declined to award this task to the agent";

export function withinBudget(task: Pick<Task, "budget">, amount: number): boolean {
  return task.budget === undefined || amount <= task.budget;
}

/**
 * The notices a decided task still owes, as delivery jobs, from its stored bids: the winner of an
 * AWARDED task gets AWARD, every other agent whose bid stands ACCEPTED gets REJECTION with the reason
 * it lost. A task that is not AWARDED (with its award AWARDED) or NO_BIDS owes nothing yet — a
 * PENDING_APPROVAL award waits for its reviewer, and a rejected approval re-awards. Notices already
 * DELIVERED are left out, so a replayed stream record or a redelivered message sends only what is
 * missing. An agent without a profile (deleted) gets nothing: there is no endpoint to send to.
 */
export function planNotices(
  record: TaskRecord,
  profiles: ReadonlyMap<string, AgentProfile>,
  bidsQueueUrl: string,
): DeliveryJob[] {
  const { task, award } = record;
  const awarded = task.status === "AWARDED" && award?.status === "AWARDED";
  if (!awarded && task.status !== "NO_BIDS") return [];
  return record.bids
    .filter((bid) => bid.status === "ACCEPTED" && bid.notice_status !== "DELIVERED")
    .flatMap((bid): DeliveryJob[] => {
      const profile = profiles.get(bid.agent_id);
      if (!profile) return [];
      const endpoint = { bidding_endpoint: profile.bidding_endpoint, endpoint_kind: profile.endpoint_kind };
      const base = { task_id: task.task_id, agent_id: bid.agent_id, ...endpoint };
      if (awarded && award && bid.agent_id === award.agent_id) {
        return [
          {
            ...base,
            message: {
              type: "AWARD",
              task_id: task.task_id,
              agent_id: award.agent_id,
              bid_amount: award.bid_amount,
              awarded_at: award.awarded_at,
              reply_to: bidsQueueUrl,
            },
          },
        ];
      }
      const reason = task.approval_excluded_agents?.includes(bid.agent_id)
        ? APPROVAL_REJECTED
        : bid.bid_amount !== undefined && !withinBudget(task, bid.bid_amount)
          ? `OVER_BUDGET: bid ${bid.bid_amount} exceeds the budget ${task.budget}`
          : !isListed(profile)
            ? INELIGIBLE
            : OUTBID;
      return [
        { ...base, message: { type: "REJECTION", task_id: task.task_id, agent_id: bid.agent_id, reason } },
      ];
    });
}
