import { describe, expect, it } from "vitest";
import { answerFor, type BidStrategy, costReportFor } from "../../src/demo/sim-agent.js";
import { type AwardNotice, agentMessageSchema, type BidRequest } from "../../src/domain/bidding/messages.js";

const TASK = "https://github.com/agentforge-demo/run-0a1b2c3d/issues/1";
const STRATEGY: BidStrategy = { price: 45, estimatedCompletionSec: 5400, costRatio: 0.9 };

const request = (budget: number | null): BidRequest => ({
  type: "BID_REQUEST",
  task_id: TASK,
  title: "Add retry with backoff",
  capabilities: ["typescript"],
  budget,
  deadline: "2025-07-01T12:05:00.000Z",
  reply_to: "http://127.0.0.1:4566/000000000000/agentforge-bids",
});

describe("simulated agent's answers", () => {
  it("bids its price and estimate on a task within budget, in the shape the bid worker accepts", () => {
    const answer = answerFor("demo-frugal", request(100), STRATEGY);

    expect(answer).toEqual({
      type: "BID",
      task_id: TASK,
      agent_id: "demo-frugal",
      bid_amount: 45,
      estimated_completion_sec: 5400,
    });
    expect(agentMessageSchema.parse(answer)).toEqual(answer);
  });

  it("bids on a task without a budget, and at exactly the budget", () => {
    expect(answerFor("demo-frugal", request(null), STRATEGY).type).toBe("BID");
    expect(answerFor("demo-frugal", request(45), STRATEGY).type).toBe("BID");
  });

  it("declines a task whose budget is below its price rather than bid over budget", () => {
    const answer = answerFor("demo-frugal", request(44.99), STRATEGY);

    expect(answer).toEqual({ type: "DECLINE", task_id: TASK, agent_id: "demo-frugal" });
    expect(agentMessageSchema.parse(answer)).toEqual(answer);
  });

  it("reports its bid times its cost ratio, rounded to cents", () => {
    const award: AwardNotice = {
      type: "AWARD",
      task_id: TASK,
      agent_id: "demo-frugal",
      bid_amount: 33.33,
      awarded_at: "2025-07-01T12:01:00.000Z",
      reply_to: "http://127.0.0.1:4566/000000000000/agentforge-bids",
    };

    const report = costReportFor("demo-frugal", award, STRATEGY);

    expect(report).toEqual({ type: "COST_REPORT", task_id: TASK, agent_id: "demo-frugal", actual_cost: 30 });
    expect(agentMessageSchema.parse(report)).toEqual(report);
  });
});
