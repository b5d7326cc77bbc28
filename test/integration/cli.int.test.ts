import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { OPERATORS_FILE, writeEndpoints } from "../../src/local/stack-files.js";
import { githubPayload } from "../fixtures/github.js";

/** What one CLI run printed, and how it exited. */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Polls `attempt` until it exits 0, or returns its last run after `timeoutMs`. */
async function eventually(attempt: () => Promise<Run>, timeoutMs = 20_000): Promise<Run> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await attempt();
    if (run.code === 0 || Date.now() > deadline) return run;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A loopback port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The ops CLI against a real local stack (DynamoDB Local, the SQS emulator, PGlite and the HTTP API on
 * a free port, in memory), through `main` with captured output: every command talks HTTP only.
 */
describe("agentforge CLI against the local stack", () => {
  let dir: string;
  let dataDir: string;
  let stack: LocalStack;
  /** A stand-in for an agent's HTTPS bidding endpoint (plain http on loopback is allowed locally). */
  let agentEndpoint: Server;
  let endpointUrl: string;
  /** cli-agent's API key, as its registration printed it. */
  let cliAgentKey: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "agentforge-cli-"));
    dataDir = join(dir, "stack");
    agentEndpoint = createServer((request, response) => {
      request.resume();
      request.on("end", () => response.writeHead(200).end());
    });
    await new Promise<void>((resolve) => agentEndpoint.listen(0, "127.0.0.1", resolve));
    endpointUrl = `http://127.0.0.1:${(agentEndpoint.address() as AddressInfo).port}/bids`;
    // The test run's PostgreSQL server (DATABASE_URL) is not handed to the stack: governance uses PGlite.
    stack = await startLocalStack({
      dataDir,
      inMemory: true,
      port: 0,
      env: { DATABASE_URL: undefined },
      // Start-up problems are thrown; its progress lines would only clutter the test output.
      log: () => {},
    });
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    await new Promise((resolve) => agentEndpoint?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  async function cli(argv: string[], env: Record<string, string> = {}): Promise<Run> {
    let stdout = "";
    let stderr = "";
    const code = await main(argv, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      env: { AGENTFORGE_DATA_DIR: dataDir, USER: "ops-test", ...env },
    });
    return { code, stdout, stderr };
  }

  /** The JSON a successful run printed; `stderr` is what else it said (a shown-once warning). */
  const json = (run: Run, stderr: unknown = "") => {
    expect(run).toMatchObject({ code: 0, stderr });
    return JSON.parse(run.stdout);
  };
  const shownOnce = expect.stringContaining("shown only once");

  it("registers, lists, shows, kills, revives an agent and rotates its secret", async () => {
    const registered = await cli([
      "agents",
      "register",
      "--id",
      "cli-agent",
      "--capability",
      "cli-test",
      "--capabilities",
      "python,go",
      "--cost-model",
      "green",
      "--endpoint",
      endpointUrl,
    ]);
    expect(registered.code).toBe(0);
    expect(registered.stdout).toContain("registered agent cli-agent");
    expect(registered.stdout).toMatch(/bid secret: +\S{16,}/);
    cliAgentKey = /API key: +(afk_[0-9a-f]{20}_[\w-]{43})\n/.exec(registered.stdout)?.[1] ?? "";
    expect(cliAgentKey).not.toBe("");
    expect(registered.stderr).toBe(
      "warning: the API key and the bid secret are shown only once; store them now (a lost one can only be rotated)\n",
    );

    const agentFile = join(dir, "agent.json");
    const registration = {
      agent_id: "cli-agent",
      capabilities: ["cli-test", "python", "go"],
      cost_model: "yellow",
      bidding_endpoint: endpointUrl,
    };
    await writeFile(agentFile, JSON.stringify(registration));
    const updated = json(
      await cli(["agents", "register", "--file", agentFile, "--cost-model", "green", "--json"]),
    );
    expect(updated).toEqual({
      agent: expect.objectContaining({ agent_id: "cli-agent", cost_model: "green", endpoint_kind: "https" }),
    });

    const listed = json(await cli(["agents", "list", "--capability", "cli-test", "--json"]));
    expect(listed.items.map((a: { agent_id: string }) => a.agent_id)).toEqual(["cli-agent"]);
    expect((await cli(["agents", "list", "--capability", "cli-test"])).stdout).toMatch(
      /^AGENT +COST +KIND +ENDPOINT +CAPABILITIES\ncli-agent +green +https/,
    );

    const shown = await cli(["agents", "show", "cli-agent"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("capabilities:     cli-test, go, python");
    expect(shown.stdout).toContain("Performance history\n  tasks completed:     0");

    const killed = json(await cli(["agents", "kill", "cli-agent", "--reason", "runaway bids", "--json"]));
    expect(killed).toMatchObject({
      kill_switch_active: true,
      kill_switch_changed_by: "operator:default",
      kill_switch_reason: "runaway bids",
    });
    expect((await cli(["agents", "list", "--capability", "cli-test"])).stdout).toBe(
      "no agents may bid with capability cli-test\n",
    );

    const revived = await cli(["agents", "revive", "cli-agent", "--reason", "fixed"]);
    expect(revived.code).toBe(0);
    expect(revived.stdout).toContain("kill switch:      off (operator:default");

    const rotated = await cli(["agents", "rotate-secret", "cli-agent", "--json"]);
    expect(rotated.code).toBe(0);
    expect(rotated.stderr).toContain("shown only once");
    const { bid_secret } = JSON.parse(rotated.stdout);
    expect(JSON.parse(rotated.stdout)).toEqual({
      agent_id: "cli-agent",
      bid_secret: expect.any(String),
      previous_valid_until: expect.any(String),
    });
    expect(registered.stdout).not.toContain(bid_secret);

    const revoked = await cli(["agents", "rotate-secret", "cli-agent", "--previous", "revoke", "--json"]);
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout)).toEqual({ agent_id: "cli-agent", bid_secret: expect.any(String) });
    const refused = await cli(["agents", "rotate-secret", "cli-agent", "--previous", "maybe"]);
    expect(refused.code).not.toBe(0);
  });

  it("lets an agent's own key read and update itself, rotate its key, and nothing more", async () => {
    const registered = json(
      await cli([
        "agents",
        "register",
        "--id",
        "cli-self",
        "--capability",
        "cli-self-test",
        "--cost-model",
        "yellow",
        "--endpoint",
        endpointUrl,
        "--json",
      ]),
      shownOnce,
    );
    expect(registered).toEqual({
      agent: expect.objectContaining({ agent_id: "cli-self" }),
      api_key: expect.stringMatching(/^afk_[0-9a-f]{20}_[\w-]{43}$/),
      bid_secret: expect.any(String),
    });
    const asAgent = (key: string) => ({ AGENTFORGE_AGENT_KEY: key });
    const self = asAgent(registered.api_key);

    const shown = await cli(["agents", "show", "cli-self"], self);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain("agent:            cli-self");
    expect(json(await cli(["agents", "ledger", "cli-self", "--json"], self))).toMatchObject({
      agent_id: "cli-self",
      items: [],
    });

    const killed = await cli(["agents", "kill", "cli-self", "--reason", "myself"], self);
    expect(killed).toEqual({
      code: 1,
      stdout: "",
      stderr: expect.stringMatching(/^agentforge: 403 FORBIDDEN: [^\n]*agents:kill[^\n]*\n$/),
    });
    const other = await cli(["agents", "show", "cli-agent"], self);
    expect(other.code).toBe(1);
    expect(other.stdout).toBe("");
    expect(other.stderr).toMatch(/^agentforge: 403 FORBIDDEN: [^\n]*agents:read[^\n]*\n$/);
    for (const argv of [
      ["audit", "verify"],
      ["escrow", "list"],
      ["agents", "list", "--capability", "x"],
    ]) {
      expect((await cli(argv, self)).stderr).toMatch(/^agentforge: 403 FORBIDDEN: /);
    }
    expect((await cli(["agents", "show", "cli-self"])).code).toBe(0);

    // Its own listing, but not its status.
    const listing = join(dir, "cli-self.json");
    await writeFile(
      listing,
      JSON.stringify({
        agent_id: "cli-self",
        capabilities: ["cli-self-test"],
        cost_model: "yellow",
        bidding_endpoint: endpointUrl,
      }),
    );
    const updated = await cli(["agents", "register", "--file", listing, "--cost-model", "green"], self);
    expect(updated).toMatchObject({ code: 0, stderr: "" });
    expect(updated.stdout).toMatch(/^updated agent cli-self\n/);
    expect(updated.stdout).toContain("cost model:       green");
    const suspended = await cli(["agents", "register", "--file", listing, "--status", "suspended"], self);
    expect(suspended.stderr).toMatch(/^agentforge: 403 FORBIDDEN: [^\n]*agents:set-status/);

    const rotated = await cli(["agents", "rotate-key", "cli-self"], self);
    expect(rotated.code).toBe(0);
    const newKey = /API key: +(afk_\S+)\n/.exec(rotated.stdout)?.[1] ?? "";
    expect(newKey).not.toBe(registered.api_key);
    expect(rotated.stdout).toMatch(/previous key valid until: \d{4}-\d\d-\d\dT/);
    expect(rotated.stderr).toContain("the API key is shown only once");
    // Both keys work during the overlap.
    expect((await cli(["agents", "show", "cli-self"], asAgent(newKey))).code).toBe(0);
    expect((await cli(["agents", "show", "cli-self"], self)).code).toBe(0);

    const secret = json(
      await cli(["agents", "rotate-secret", "cli-self", "--json"], asAgent(newKey)),
      shownOnce,
    );
    expect(secret).toEqual({
      agent_id: "cli-self",
      bid_secret: expect.any(String),
      previous_valid_until: expect.any(String),
    });

    const unknown = await cli(
      ["agents", "show", "cli-self"],
      asAgent(`afk_${"0".repeat(20)}_${"x".repeat(43)}`),
    );
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\(the agent key from AGENTFORGE_AGENT_KEY was refused/);
    const malformed = await cli(["agents", "show", "cli-self"], asAgent("not-a-key"));
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^agentforge: AGENTFORGE_AGENT_KEY is not an agent API key/);
  });

  it("records a named operator (AGENTFORGE_OPERATOR_TOKEN) as the one who acted", async () => {
    // At least 32 characters: the stack refuses a shorter operator token.
    const token = "alice-operator-token-0123456789abcdef";
    const operatorsFile = join(dataDir, OPERATORS_FILE);
    await writeFile(operatorsFile, JSON.stringify({ alice: token }), { mode: 0o600 });
    const alice = { AGENTFORGE_OPERATOR_TOKEN: token };
    try {
      // The stack re-reads the operators file within a second of a change.
      const killed = json(
        await eventually(() => cli(["agents", "kill", "cli-agent", "--reason", "drill", "--json"], alice)),
      );
      expect(killed).toMatchObject({ kill_switch_active: true, kill_switch_changed_by: "operator:alice" });
      const revived = await cli(["agents", "revive", "cli-agent", "--reason", "drill over"], alice);
      expect(revived.stdout).toContain("kill switch:      off (operator:alice");
    } finally {
      await rm(operatorsFile, { force: true });
    }
  });

  it("sends a signed GitHub delivery that becomes a task, then shows the task and its ledger", async () => {
    const taskUrl = "https://github.com/Codertocat/Hello-World/issues/9101";
    // biome-ignore lint/suspicious/noExplicitAny: the test edits a real GitHub payload's fields freely.
    const issue: any = githubPayload("issues", "opened");
    issue.issue.number = 9101;
    issue.issue.html_url = taskUrl;
    issue.issue.labels = ["agentforge", "cap:cli-test", "budget:50"].map((name, id) => ({ id, name }));
    const payloadFile = join(dir, "issue-opened.json");
    await writeFile(payloadFile, JSON.stringify(issue, null, 2));

    const missingEvent = await cli(["webhook", "send", payloadFile]);
    expect(missingEvent.code).toBe(2);
    expect(missingEvent.stderr).toContain("--event <name> is required: the X-GitHub-Event");

    const sent = await cli([
      "webhook",
      "send",
      payloadFile,
      "--event",
      "issues",
      "--delivery",
      "cli-delivery-1",
    ]);
    expect(sent).toEqual({
      code: 0,
      stdout: "delivery accepted (202): delivery cli-delivery-1\n",
      stderr: "",
    });

    const record = json(await eventually(() => cli(["tasks", "show", taskUrl, "--json"])));
    expect(record.task).toMatchObject({
      task_id: taskUrl,
      status: "OPEN",
      required_capabilities: ["cli-test"],
    });
    const text = await cli(["tasks", "show", taskUrl]);
    expect(text.stdout).toContain(`task:         ${taskUrl}`);
    expect(text.stdout).toContain("Ledger: none");

    expect(json(await cli(["tasks", "ledger", taskUrl, "--json"]))).toEqual({ task_id: taskUrl, ledger: [] });

    // cli-agent (capability cli-test) was invited: its own key reads the task, with its own bid only.
    const invited = json(
      await eventually(() =>
        cli(["tasks", "show", taskUrl, "--json"], { AGENTFORGE_AGENT_KEY: cliAgentKey }),
      ),
    );
    expect(invited.bids.map((bid: { agent_id: string }) => bid.agent_id)).toEqual(["cli-agent"]);
    expect(invited.rejections).toEqual([]);
    const ledger = await cli(["tasks", "ledger", taskUrl], { AGENTFORGE_AGENT_KEY: cliAgentKey });
    expect(ledger.stderr).toMatch(/^agentforge: 403 FORBIDDEN: [^\n]*tasks:read-ledger/);
    const missing = await cli(["tasks", "ledger", "https://github.com/Codertocat/Hello-World/issues/404404"]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toMatch(/^agentforge: 404 NOT_FOUND: [^\n]+\n$/);
  });

  it("lists approvals and escrows, and verifies the audit chain", async () => {
    expect(json(await cli(["approvals", "list", "--status", "pending", "--json"]))).toEqual({
      items: [],
      cursor: null,
    });
    expect(json(await cli(["escrow", "list", "--agent", "cli-agent", "--limit", "5", "--json"]))).toEqual({
      items: [],
      cursor: null,
    });
    expect((await cli(["escrow", "list", "--status", "pending"])).stdout).toBe("no escrows\n");

    const verified = await cli(["audit", "verify"]);
    expect(verified.code).toBe(0);
    // With the anchor it was checked against (the projector anchors after each batch) and the rows after it.
    expect(verified.stdout).toMatch(
      /^ok: \d+ audit rows verified\nanchor: +(seq \d+ of \S+ \(key ed25519:[0-9a-f]{32}\)|none yet \(.+\))\nunanchored rows: +\d+\n$/,
    );
  });

  it("fails with one line and exit 1 when the API refuses the token", async () => {
    const refused = await cli(["agents", "show", "cli-agent"], { AGENTFORGE_API_TOKEN: "not-the-token" });

    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    // API Gateway's authorizer (emulated locally) answers a wrong token with 403, a missing one with 401.
    expect(refused.stderr).toBe(
      "agentforge: 403 FORBIDDEN: Forbidden (the operator token from AGENTFORGE_API_TOKEN was refused)\n",
    );
  });

  it("exits 2 with usage for an unknown command", async () => {
    const unknown = await cli(["agents", "explode"]);

    expect(unknown).toEqual({
      code: 2,
      stdout: "",
      stderr: "agentforge: unknown command 'agents explode'\nRun `agentforge agents --help` for usage.\n",
    });
  });

  it("says in one line when there is no local stack, or when it does not answer", async () => {
    const empty = join(dir, "no-stack");
    const missing = await cli(["audit", "verify", "--data-dir", empty]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `agentforge: The local stack's endpoints file not found at ${join(empty, "endpoints.json")}: start the stack with \`npm start\` (or set AGENTFORGE_DATA_DIR to the directory it uses)\n`,
    );

    // What a stack that died without cleaning up leaves behind: endpoints.json with nothing listening.
    const stopped = join(dir, "stopped-stack");
    await mkdir(stopped);
    const deadUrl = `http://127.0.0.1:${await closedPort()}`;
    writeEndpoints(stopped, { ...stack.endpoints, api_url: deadUrl });
    const down = await cli(["audit", "verify"], { AGENTFORGE_DATA_DIR: stopped, AGENTFORGE_API_TOKEN: "t" });
    expect(down).toEqual({
      code: 1,
      stdout: "",
      stderr: `agentforge: no local stack answers at ${deadUrl}: start it with \`npm start\`\n`,
    });
  });
});
