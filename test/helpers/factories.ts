import { randomUUID } from "node:crypto";

let counter = 0;

/** A unique, valid agent registration; override any field. */
export function agentInput(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    agent_id: `agent-${counter}-${randomUUID().slice(0, 6)}`,
    capabilities: ["python", "testing"],
    cost_model: "green",
    bidding_endpoint: "https://sqs.us-east-1.amazonaws.com/123456789012/agent-bids",
    ...overrides,
  };
}

/** A unique GitHub issue URL. */
export function issueUrl(n = ++counter): string {
  return `https://github.com/octo-org/octo-repo/issues/${n}`;
}

/** A valid ledger entry input; override any field. */
export function outcomeInput(overrides: Record<string, unknown> = {}) {
  return {
    task_id: issueUrl(),
    winning_agent_id: "agent",
    bid_amount: 10,
    actual_cost: 8.5,
    status: "SUCCESS",
    quality_score: 0.9,
    completion_timestamp: "2025-07-01T12:30:00Z",
    completion_time_sec: 3600,
    ...overrides,
  };
}
