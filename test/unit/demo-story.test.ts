import { describe, expect, it } from "vitest";
import { type DemoSummary, describeAgentEvent, formatSummary } from "../../src/demo/story.js";

const history = (tasks: number, successRate: number, averageCost: number) => ({
  total_tasks_completed: tasks,
  success_rate: successRate,
  average_cost_per_task: averageCost,
  average_completion_time_sec: 0,
});

const SUMMARY: DemoSummary = {
  runId: "0a1b2c3d",
  taskId: "https://github.com/agentforge-demo/run-0a1b2c3d/issues/1",
  budget: 100,
  winner: "demo-0a1b2c3d-frugal",
  agents: [
    {
      agentId: "demo-0a1b2c3d-frugal",
      bidAmount: 45,
      estimatedCompletionSec: 5400,
      result: "won",
      actualCost: 40.5,
      qualityScore: 1,
      escrow: { status: "released", amount: "45.000000" },
      performance: history(1, 1, 40.5),
    },
    {
      agentId: "demo-0a1b2c3d-steady",
      bidAmount: 60,
      estimatedCompletionSec: 3600,
      result: "OUTBID",
      performance: history(0, 0, 0),
    },
    { agentId: "demo-0a1b2c3d-shy", result: "declined", performance: history(0, 0, 0) },
  ],
  ledger: {
    status: "SUCCESS",
    qualityScore: 1,
    bidAmount: 45,
    actualCost: 40.5,
    completionTimeSec: 4,
    entries: 1,
  },
  escrow: {
    id: "7f1c1e4e-0000-4000-8000-000000000000",
    status: "released",
    amount: "45.000000",
    resolvedBy: "api",
  },
  auditRows: 11,
  steps: [
    { name: "agents registered", ms: 177 },
    { name: "issue opened", ms: 1152 },
  ],
  totalMs: 4679,
};

describe("demo summary table", () => {
  it("prints one aligned row per agent under a header, then the task's record", () => {
    expect(formatSummary(SUMMARY).split("\n")).toEqual([
      "agent                 bid    ETA     result    cost   quality  escrow          tasks  success",
      "--------------------  -----  ------  --------  -----  -------  --------------  -----  -------",
      "demo-0a1b2c3d-frugal  45.00  1h 30m  won       40.50  1.00     released 45.00  1      100%",
      "demo-0a1b2c3d-steady  60.00  1h      OUTBID    —      —        —               0      —",
      "demo-0a1b2c3d-shy     —      —       declined  —      —        —               0      —",
      "",
      "task     https://github.com/agentforge-demo/run-0a1b2c3d/issues/1 (budget 100.00)",
      "ledger   SUCCESS, quality 1, bid 45.00, cost 40.50, completed in 4 s",
      "escrow   released by api, 45.00 to demo-0a1b2c3d-frugal",
      "audit    ok, 11 rows verified",
      "time     4679 ms for 2 steps",
    ]);
  });

  it("says when later evidence corrected the ledger", () => {
    const corrected = { ...SUMMARY, ledger: { ...SUMMARY.ledger, entries: 2 } };

    expect(formatSummary(corrected)).toContain("(2 entries: later evidence corrected the first)");
  });
});

describe("agent progress lines", () => {
  const agentId = "demo-0a1b2c3d-frugal";
  const task_id = SUMMARY.taskId;
  /** Protocol v2's envelope, as the agent kit hands verified and sent messages on. */
  const envelope = { sent_at: "2025-07-01T12:00:00.000Z", nonce: "nonce-0123456789abcdef" };

  it("names the agent by its role and shows what it received and sent", () => {
    expect([
      describeAgentEvent({
        kind: "received",
        agentId,
        message: {
          type: "BID_REQUEST",
          task_id,
          agent_id: agentId,
          title: "t",
          capabilities: ["typescript"],
          budget: 100,
          deadline: "2025-07-01T12:05:00.000Z",
          reply_to: "http://127.0.0.1:1/000000000000/bids",
          ...envelope,
        },
      }),
      describeAgentEvent({
        kind: "sent",
        agentId,
        message: {
          type: "BID",
          task_id,
          agent_id: agentId,
          bid_amount: 45,
          estimated_completion_sec: 5400,
          ...envelope,
        },
      }),
      describeAgentEvent({
        kind: "received",
        agentId,
        message: {
          type: "REJECTION",
          task_id,
          agent_id: agentId,
          reason: "OUTBID: another bid ranked higher",
          ...envelope,
        },
      }),
      describeAgentEvent({ kind: "confirmed", agentId, taskId: task_id, visibleBids: [agentId] }),
      describeAgentEvent({
        kind: "confirmed",
        agentId,
        taskId: task_id,
        visibleBids: [agentId, "demo-0a1b2c3d-steady"],
      }),
      describeAgentEvent({
        kind: "refused",
        agentId,
        reason: "BAD_SIGNATURE",
        detail: "no valid X-AgentForge-Signature for this agent",
      }),
    ]).toEqual([
      "    frugal  ← BID_REQUEST budget 100 (signature ok)",
      "    frugal  → BID 45, ETA 5400 s",
      "    frugal  ← REJECTION OUTBID (signature ok)",
      "    frugal  ↔ GET /tasks (own key): invited, sees its own bid only",
      "    frugal  ↔ GET /tasks (own key): invited, sees the bids of steady too",
      "  ! frugal  refused a message (BAD_SIGNATURE): no valid X-AgentForge-Signature for this agent",
    ]);
  });
});
