import { describe, expect, it } from "vitest";
import {
  agentPageText,
  agentText,
  auditText,
  credentialsText,
  duration,
  escrowPageText,
  fields,
  percent,
  shownOnceWarning,
  table,
  taskText,
} from "../../src/cli/format.js";
import type { AgentView, TaskRecordView } from "../../src/cli/responses.js";

const TASK_URL = "https://github.com/octo/repo/issues/7";

function agent(overrides: Partial<AgentView> = {}): AgentView {
  return {
    type: "AGENT_PROFILE",
    agent_id: "A1",
    capabilities: ["python", "typescript"],
    cost_model: "green",
    bidding_endpoint: "https://agent.example/bids",
    endpoint_kind: "https",
    status: "active",
    kill_switch_active: false,
    performance_history: {
      average_cost_per_task: 12.5,
      success_rate: 2 / 3,
      average_completion_time_sec: 3725,
      total_tasks_completed: 3,
    },
    created_at: "2025-07-01T10:00:00.000Z",
    updated_at: "2025-07-02T10:00:00.000Z",
    ...overrides,
  };
}

describe("table", () => {
  it("aligns every column to its widest cell, with capitalised headers and no trailing spaces", () => {
    const text = table(
      ["agent", "bid", "note"],
      [
        ["a-long-agent", 40, undefined],
        ["b", 7.5, "ok"],
      ],
    );

    expect(text.split("\n")).toEqual([
      "AGENT         BID  NOTE",
      "a-long-agent  40   -",
      "b             7.5  ok",
    ]);
  });
});

describe("fields", () => {
  it("aligns the values and leaves out keys without one", () => {
    expect(
      fields([
        ["agent", "A1"],
        ["wallet", undefined],
        ["kill switch", "off"],
        ["note", null],
      ]),
    ).toBe("agent:       A1\nkill switch: off");
  });
});

describe("duration and percent", () => {
  it.each([
    [0, "0s"],
    [45, "45s"],
    [725, "12m 05s"],
    [7500, "2h 05m"],
    [273_600, "3d 04h"],
  ])("%i seconds read %s", (seconds, expected) => {
    expect(duration(seconds)).toBe(expected);
  });

  it("has nothing to show without a number", () => {
    expect(duration(undefined)).toBeUndefined();
  });

  it("shows a rate with one decimal", () => {
    expect(percent(2 / 3)).toBe("66.7%");
    expect(percent(1)).toBe("100.0%");
  });
});

describe("agentText", () => {
  it("shows the profile and its performance history", () => {
    const text = agentText(agent({ trust_score: 59, audit_level: "Silver" }));

    expect(text).toContain("agent:            A1");
    expect(text).toContain("capabilities:     python, typescript");
    expect(text).toContain("bidding endpoint: https://agent.example/bids (https)");
    expect(text).toContain("trust:            59 (Silver)");
    expect(text).toContain("Performance history\n  tasks completed:     3\n  success rate:        66.7%");
    expect(text).toContain("avg cost per task:   12.5");
    expect(text).toContain("avg completion time: 1h 02m");
  });

  it("says who pulled the kill switch and why, and shows no rates before the first task", () => {
    const text = agentText(
      agent({
        kill_switch_active: true,
        kill_switch_changed_by: "operator:alice",
        kill_switch_changed_at: "2025-07-03T09:00:00.000Z",
        kill_switch_reason: "spamming bids",
        performance_history: {
          average_cost_per_task: 0,
          success_rate: 0,
          average_completion_time_sec: 0,
          total_tasks_completed: 0,
        },
      }),
    );

    expect(text).toContain("kill switch:      ON (operator:alice, 2025-07-03T09:00:00.000Z: spamming bids)");
    expect(text).toContain("trust:            not scored yet");
    expect(text).toContain("success rate:        -");
  });
});

describe("lists", () => {
  it("says so when no agent is listed, and points to the next page when there is one", () => {
    expect(agentPageText({ items: [], cursor: null }, "cobol")).toBe(
      "no agents may bid with capability cobol",
    );
    const page = agentPageText(
      {
        items: [
          {
            agent_id: "A1",
            capabilities: ["python"],
            cost_model: "green",
            bidding_endpoint: "https://a",
            endpoint_kind: "https",
          },
        ],
        cursor: "abc",
      },
      "python",
    );
    expect(page).toBe(
      "AGENT  COST   KIND   ENDPOINT   CAPABILITIES\nA1     green  https  https://a  python\nmore: --cursor abc",
    );
  });
});

describe("escrowPageText", () => {
  it("lists escrows with who settled them, or says there are none", () => {
    expect(escrowPageText({ items: [], cursor: null })).toBe("no escrows");
    const text = escrowPageText({
      items: [
        {
          id: "0b7c3a8e-5b8e-4c1e-9a47-1c2f3e4d5a6b",
          task_id: TASK_URL,
          agent_id: "A1",
          worker_wallet: null,
          amount: "45.000000",
          status: "released",
          task_description: null,
          created_at: "2025-07-01T10:00:00.000Z",
          settled_at: "2025-07-01T11:00:00.000Z",
          resolved_by: "judge",
          updated_at: "2025-07-01T11:00:00.000Z",
        },
      ],
      cursor: "next",
    });

    expect(text.split("\n")).toEqual([
      "ID                                    STATUS    TASK                                   AGENT  AMOUNT     RESOLVED BY  CREATED",
      `0b7c3a8e-5b8e-4c1e-9a47-1c2f3e4d5a6b  released  ${TASK_URL}  A1     45.000000  judge        2025-07-01T10:00:00.000Z`,
      "more: --cursor next",
    ]);
  });
});

describe("credentials shown once", () => {
  it("shows them under the agent and names each in the warning", () => {
    expect(
      credentialsText("A1", [
        ["API key", "afk_1"],
        ["bid secret", "s3"],
      ]),
    ).toBe("agent:      A1\nAPI key:    afk_1\nbid secret: s3");
    expect(shownOnceWarning(["API key", "bid secret"])).toBe(
      "warning: the API key and the bid secret are shown only once; store them now (a lost one can only be rotated)",
    );
    expect(shownOnceWarning(["bid secret"])).toBe(
      "warning: the bid secret is shown only once; store it now (a lost one can only be rotated)",
    );
  });
});

const TASK: TaskRecordView["task"] = {
  type: "TASK",
  task_id: TASK_URL,
  title: "Fix the parser",
  status: "OPEN",
  required_capabilities: ["python"],
  budget: 100,
  bid_deadline: "2025-07-01T10:05:00.000Z",
  created_at: "2025-07-01T10:00:00.000Z",
  updated_at: "2025-07-01T10:00:00.000Z",
};

const BID: TaskRecordView["bids"][number] = {
  type: "BID",
  task_id: TASK_URL,
  agent_id: "A1",
  status: "ACCEPTED",
  invited_at: "2025-07-01T10:00:01.000Z",
  bid_amount: 40,
  updated_at: "2025-07-01T10:01:00.000Z",
};

describe("taskText", () => {
  it("shows the task and each of its parts, or that a part is empty", () => {
    const record: TaskRecordView = {
      task: TASK,
      bids: [{ ...BID, delivery_status: "DELIVERED", estimated_completion_sec: 7200 }],
      award: null,
      ledger: [],
      rejections: [],
    };

    const text = taskText(record);

    expect(text).toContain(`task:         ${TASK_URL}`);
    expect(text).toContain("Bids (1)\n  AGENT  STATUS    BID  ESTIMATE  DELIVERY");
    expect(text).toContain("  A1     ACCEPTED  40   2h 00m    DELIVERED");
    expect(text).toContain("Award: none");
    expect(text).toContain("Ledger: none");
    expect(text).toContain("Rejected messages: none");
  });

  it("shows an invited agent's view: its own bid without delivery details, and the award it won", () => {
    const text = taskText({
      task: { ...TASK, status: "AWARDED" },
      bids: [BID],
      award: {
        task_id: TASK_URL,
        agent_id: "A1",
        bid_amount: 40,
        status: "AWARDED",
        awarded_at: "2025-07-01T10:06:00.000Z",
      },
      ledger: [],
      rejections: [],
    });

    expect(text).toContain("  A1     ACCEPTED  40   -         -");
    expect(text).toContain("Award\n  agent:   A1\n  status:  AWARDED\n  bid:     40");
  });
});

describe("auditText", () => {
  it("reports a verified chain or the first bad row", () => {
    expect(auditText({ ok: true, rows: 12, verified_through: 12, complete: true })).toBe(
      "ok: 12 audit rows verified",
    );
    expect(
      auditText({
        ok: false,
        first_bad_seq: 7,
        reason: "signature mismatch",
        rows_checked: 6,
        verified_through: 6,
        complete: true,
      }),
    ).toBe("BROKEN at seq 7: signature mismatch (6 rows verified before it)");
  });

  it("says when a walk stopped before the head", () => {
    expect(auditText({ ok: true, rows: 5000, verified_through: 5000, complete: false })).toBe(
      "ok so far: 5000 audit rows verified (through seq 5000); the walk stopped before the head: run it again to go on",
    );
  });
});
