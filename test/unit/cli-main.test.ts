import { describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";

interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Runs the CLI against a fake API that answers every request with `status` and `body`. */
async function run(argv: string[], status = 200, body: unknown = {}) {
  const sent: Sent[] = [];
  let stdout = "";
  let stderr = "";
  const code = await main(["--api-url", "https://api.example.com", ...argv], {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { AGENTFORGE_API_TOKEN: "t0ken", GITHUB_WEBHOOK_SECRET: "hook", USER: "alice" },
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

const VERIFIED = { ok: true, rows: 3 };

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

  it("pulls the kill switch with the reason in the body and the actor in the header", async () => {
    const [kill] = (await run(["agents", "kill", "A1", "--reason", "spamming bids"])).sent;
    const [revive] = (await run(["agents", "revive", "A1", "--reason", "fixed", "--actor", "bob"])).sent;

    expect(kill).toMatchObject({
      method: "POST",
      url: "https://api.example.com/agents/A1/kill",
      body: '{"reason":"spamming bids"}',
    });
    expect(kill?.headers["x-agentforge-actor"]).toBe("alice");
    expect(revive?.url).toBe("https://api.example.com/agents/A1/revive");
    expect(revive?.headers["x-agentforge-actor"]).toBe("bob");
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
    expect(JSON.parse(sent[0]?.body ?? "")).toEqual({
      resolution: "refund",
      judge: "alice",
      note: "never delivered",
    });
  });

  it("shows a new agent's bid secret once, with a warning on stderr", async () => {
    const registered = {
      agent: {
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
      },
      bid_secret: "b1d-s3cret",
    };

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
    expect(stdout).toContain("bid secret: b1d-s3cret");
    expect(stderr).toContain("shown only once");
  });
});
