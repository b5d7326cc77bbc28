import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

const AGENT_KEY = `afk_${"0a".repeat(10)}_${"k".repeat(43)}`;

/** Runs the CLI against a fake API that answers every request with `status` and `body`. */
async function run(argv: string[], status = 200, body: unknown = {}, env: Record<string, string> = {}) {
  const sent: Sent[] = [];
  let stdout = "";
  let stderr = "";
  const code = await main(["--api-url", "https://api.example.com", ...argv], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { AGENTFORGE_API_TOKEN: "t0ken", GITHUB_WEBHOOK_SECRET: "hook", USER: "alice", ...env },
    fetch: async (url, init) => {
      sent.push({
        method: init?.method ?? "GET",
        url: String(url),
        headers: init?.headers as Record<string, string>,
        body: init?.body as string | undefined,
      });
      return new Response(JSON.stringify(body), { status });
    },
  });
  return { code, stdout, stderr, sent };
}

const VERIFIED = { ok: true, rows: 3, verified_through: 3, complete: true };

const AGENT_VIEW = {
  agent_id: "A1",
  capabilities: ["python"],
  cost_model: "green",
  bidding_endpoint: "https://a.example/bids",
  endpoint_kind: "https",
  status: "active",
  kill_switch_active: false,
  performance_history: {
    average_cost_per_task: 0,
    success_rate: 0,
    average_completion_time_sec: 0,
    total_tasks_completed: 0,
  },
  created_at: "2025-07-01T10:00:00.000Z",
  updated_at: "2025-07-01T10:00:00.000Z",
};

describe("main", () => {
  it("prints exactly the API's JSON body with --json", async () => {
    const { code, stdout, stderr } = await run(["audit", "verify", "--json"], 200, VERIFIED);

    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(VERIFIED);
    expect(stderr).toBe("");
  });

  it("prints text without --json", async () => {
    const { stdout } = await run(["audit", "verify"], 200, VERIFIED);

    expect(stdout).toBe("ok: 3 audit rows verified\n");
  });

  it("exits 1 when the audit chain is broken", async () => {
    const { code, stdout } = await run(["audit", "verify"], 200, {
      ok: false,
      first_bad_seq: 2,
      reason: "signature mismatch",
      rows_checked: 1,
    });

    expect(code).toBe(1);
    expect(stdout).toContain("BROKEN at seq 2");
  });

  it("reports an API error as one line on stderr and nothing on stdout", async () => {
    const { code, stdout, stderr } = await run(["agents", "show", "A9", "--json"], 404, {
      error: { code: "NOT_FOUND", message: "agent A9 not found" },
    });

    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe("agentforge: 404 NOT_FOUND: agent A9 not found\n");
  });

  it("reports a usage error with exit code 2 before sending anything", async () => {
    const { code, stderr, sent } = await run(["agents", "kill", "A1"]);

    expect(code).toBe(2);
    expect(stderr).toContain("agentforge: --reason <text> is required");
    expect(stderr).toContain("Run `agentforge agents kill --help` for usage.");
    expect(sent).toEqual([]);
  });

  it("reports the API's 403 FORBIDDEN as it is, with no hint about the token", async () => {
    const { code, stdout, stderr } = await run(["agents", "kill", "A1", "--reason", "x"], 403, {
      error: { code: "FORBIDDEN", message: "agent:A1 lacks permission agents:kill" },
    });

    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe("agentforge: 403 FORBIDDEN: agent:A1 lacks permission agents:kill\n");
  });

  it("pulls the kill switch with only the reason: who did it comes from the token", async () => {
    const [kill] = (await run(["agents", "kill", "A1", "--reason", "spamming bids"])).sent;
    const [revive] = (await run(["agents", "revive", "A1", "--reason", "fixed"])).sent;

    expect(kill).toMatchObject({
      method: "POST",
      url: "https://api.example.com/agents/A1/kill",
      body: '{"reason":"spamming bids"}',
    });
    expect(kill?.headers).not.toHaveProperty("x-agentforge-actor");
    expect(kill?.headers.authorization).toBe("Bearer t0ken");
    expect(revive).toMatchObject({
      url: "https://api.example.com/agents/A1/revive",
      body: '{"reason":"fixed"}',
    });
  });

  it("no longer takes --actor", async () => {
    const { code, stderr, sent } = await run(["agents", "kill", "A1", "--reason", "x", "--actor", "bob"]);

    expect(code).toBe(2);
    expect(stderr).toContain("unknown option '--actor'");
    expect(sent).toEqual([]);
  });

  it("sends an approval decision's reason as its note, without a reviewer", async () => {
    const { sent } = await run(
      ["approvals", "reject", "apr_0123456789abcdef01234567", "--reason", "too dear"],
      200,
      {
        request: { id: "apr_0123456789abcdef01234567", status: "rejected" },
        next: "closed",
      },
    );

    expect(sent[0]?.url).toBe("https://api.example.com/approvals/apr_0123456789abcdef01234567/reject");
    expect(JSON.parse(sent[0]?.body ?? "")).toEqual({ note: "too dear" });
  });

  it("sends AGENTFORGE_AGENT_KEY as the bearer instead of the operator token", async () => {
    const { sent } = await run(["agents", "show", "A1"], 200, AGENT_VIEW, {
      AGENTFORGE_AGENT_KEY: AGENT_KEY,
      AGENTFORGE_OPERATOR_TOKEN: "alice-token",
    });

    expect(sent[0]?.headers.authorization).toBe(`Bearer ${AGENT_KEY}`);
  });

  it("prefers AGENTFORGE_OPERATOR_TOKEN to AGENTFORGE_API_TOKEN", async () => {
    const { sent } = await run(["agents", "show", "A1"], 200, AGENT_VIEW, {
      AGENTFORGE_OPERATOR_TOKEN: "alice-token",
    });

    expect(sent[0]?.headers.authorization).toBe("Bearer alice-token");
  });

  it("lists escrows with their filters and page, and handles the paginated answer", async () => {
    const { code, stdout, sent } = await run(
      ["escrow", "list", "--agent", "A1", "--status", "pending", "--limit", "2", "--cursor", "c1"],
      200,
      { items: [], cursor: null },
    );

    expect(code).toBe(0);
    expect(sent[0]?.url).toBe("https://api.example.com/escrows?agent_id=A1&status=pending&limit=2&cursor=c1");
    expect(stdout).toBe("no escrows\n");
    expect((await run(["escrow", "list", "--status", "lost"])).code).toBe(2);
  });

  it("shows a rotated API key once, with when the previous one stops working", async () => {
    const { code, stdout, stderr, sent } = await run(["agents", "rotate-key", "A1"], 200, {
      agent_id: "A1",
      api_key: AGENT_KEY,
      previous_key_valid_until: "2025-07-01T10:10:00.000Z",
    });

    expect(code).toBe(0);
    expect(sent[0]).toMatchObject({ method: "POST", url: "https://api.example.com/agents/A1/rotate-key" });
    expect(stdout).toBe(
      `agent:                    A1\nAPI key:                  ${AGENT_KEY}\nprevious key valid until: 2025-07-01T10:10:00.000Z\n`,
    );
    expect(stderr).toBe(
      "warning: the API key is shown only once; store it now (a lost one can only be rotated)\n",
    );
  });

  it("sends the judge's ruling on an escrow", async () => {
    const { sent } = await run(
      [
        "escrow",
        "resolve",
        "0b7c3a8e-5b8e-4c1e-9a47-1c2f3e4d5a6b",
        "--to",
        "refund",
        "--reason",
        "never delivered",
      ],
      200,
      { id: "0b7c3a8e-5b8e-4c1e-9a47-1c2f3e4d5a6b", status: "refunded" },
    );

    expect(sent[0]?.url).toBe("https://api.example.com/escrows/0b7c3a8e-5b8e-4c1e-9a47-1c2f3e4d5a6b/resolve");
    expect(JSON.parse(sent[0]?.body ?? "")).toEqual({ resolution: "refund", note: "never delivered" });
  });

  it("shows a new agent's API key and bid secret once, with a warning on stderr", async () => {
    const registered = { agent: AGENT_VIEW, api_key: AGENT_KEY, bid_secret: "b1d-s3cret" };

    const { code, stdout, stderr, sent } = await run(
      [
        "agents",
        "register",
        "--id",
        "A1",
        "--capability",
        "python",
        "--cost-model",
        "green",
        "--endpoint",
        "https://a.example/bids",
      ],
      201,
      registered,
    );

    expect(code).toBe(0);
    expect(JSON.parse(sent[0]?.body ?? "")).toEqual({
      agent_id: "A1",
      capabilities: ["python"],
      cost_model: "green",
      bidding_endpoint: "https://a.example/bids",
    });
    expect(stdout).toContain("registered agent A1");
    expect(stdout).toContain(`API key:    ${AGENT_KEY}\nbid secret: b1d-s3cret`);
    expect(stderr).toBe(
      "warning: the API key and the bid secret are shown only once; store them now (a lost one can only be rotated)\n",
    );
  });

  it("prints no credentials and no warning for an update", async () => {
    const { stdout, stderr } = await run(["agents", "register", "--id", "A1", "--wallet", "w"], 200, {
      agent: AGENT_VIEW,
    });

    expect(stdout).toMatch(/^updated agent A1\n/);
    expect(stdout).not.toContain("API key");
    expect(stderr).toBe("");
  });
});
