import { describe, expect, it } from "vitest";
import type { AwardCandidate } from "../../src/domain/bidding/award.service.js";
import { createApprovalPolicy } from "../../src/domain/governance/approval-policy.js";
import type { Task } from "../../src/domain/tasks/task.types.js";

function candidate(amount: number, profile: Partial<AwardCandidate["profile"]> = {}): AwardCandidate {
  return {
    rank: 1,
    score: 0.9,
    components: { price: 1, success: 0.7, quality: 0.6, speed: 1 },
    bid: {
      type: "BID",
      task_id: "https://github.com/o/r/issues/1",
      agent_id: "a1",
      status: "ACCEPTED",
      invited_at: "2030-01-01T00:00:00.000Z",
      delivery_status: "DELIVERED",
      bid_amount: amount,
      estimated_completion_sec: 60,
      answered_at: "2030-01-01T00:00:01.000Z",
      updated_at: "2030-01-01T00:00:01.000Z",
    },
    profile: { agent_id: "a1", ...profile } as AwardCandidate["profile"],
  };
}

const task = {} as Task;

describe("approval policy", () => {
  it("holds awards strictly above APPROVAL_THRESHOLD, with the reason", async () => {
    const policy = createApprovalPolicy({ threshold: 500 });
    expect(await policy.decide(candidate(500), task)).toBe("AWARDED");
    expect(await policy.decide(candidate(500.01), task)).toEqual({
      status: "PENDING_APPROVAL",
      reason: "AMOUNT_ABOVE_THRESHOLD: 500.01 > 500",
    });
  });

  it("holds awards to Bronze-tier agents whatever the amount", async () => {
    const policy = createApprovalPolicy({ threshold: 500 });
    expect(await policy.decide(candidate(1, { audit_level: "Bronze", trust_score: 30 }), task)).toEqual({
      status: "PENDING_APPROVAL",
      reason: "BRONZE_TIER: trust score 30",
    });
    expect(await policy.decide(candidate(1, { audit_level: "Silver", trust_score: 55 }), task)).toBe(
      "AWARDED",
    );
  });

  it("does not hold agents governance has not scored yet, and has no amount rule without a threshold", async () => {
    const policy = createApprovalPolicy();
    expect(await policy.decide(candidate(1_000_000), task)).toBe("AWARDED");
  });
});
