import { describe, expect, it } from "vitest";
import { type CommandLine, commandSynopsis, parseCommandLine } from "../../src/cli/args.js";
import { COMMANDS } from "../../src/cli/commands.js";
import { UsageError } from "../../src/cli/errors.js";

const KILL: CommandLine = {
  group: "agents",
  name: "kill",
  summary: "Pull the kill switch",
  access: "operator",
  args: ["id"],
  options: {
    reason: { type: "string", value: "text", required: true, description: "why" },
    until: { type: "string", value: "time", description: "when it lifts" },
  },
};
const REGISTER: CommandLine = {
  group: "agents",
  name: "register",
  summary: "Register",
  access: "agent",
  options: {
    capability: { type: "string", multiple: true, value: "name", description: "a capability" },
    "cost-model": { type: "string", choices: ["green", "yellow", "orange"], description: "cost model" },
  },
};
const VERIFY: CommandLine = { group: "audit", name: "verify", summary: "Walk the chain", access: "operator" };
const TABLE = [KILL, REGISTER, VERIFY];

function command(argv: string[]) {
  const invocation = parseCommandLine(argv, TABLE);
  if (invocation.kind !== "command") throw new Error(`expected a command, got ${invocation.kind}`);
  return invocation;
}

function usageError(argv: string[]): UsageError {
  try {
    parseCommandLine(argv, TABLE);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error(`expected a usage error for ${argv.join(" ")}`);
}

describe("parseCommandLine", () => {
  it("finds the command, its argument and its options", () => {
    const { command: found, input, globals } = command(["agents", "kill", "A1", "--reason", "misbehaves"]);

    expect(found).toBe(KILL);
    expect(input.arg("id")).toBe("A1");
    expect(input.required("reason")).toBe("misbehaves");
    expect(input.option("until")).toBeUndefined();
    expect(globals).toEqual({ json: false });
  });

  it("accepts global options before and after the command words", () => {
    const { input, globals } = command([
      "--data-dir",
      "/tmp/stack",
      "agents",
      "kill",
      "--json",
      "A1",
      "--reason=why",
      "--api-url",
      "http://127.0.0.1:3000",
    ]);

    expect(input.arg("id")).toBe("A1");
    expect(globals).toEqual({ json: true, dataDir: "/tmp/stack", apiUrl: "http://127.0.0.1:3000" });
  });

  it("collects a repeatable option in order and accepts a value among the choices", () => {
    const { input } = command([
      "agents",
      "register",
      "--capability",
      "python",
      "--capability",
      "go",
      "--cost-model",
      "green",
    ]);

    expect(input.options("capability")).toEqual(["python", "go"]);
    expect(input.option("cost-model")).toBe("green");
  });

  it("answers --help with the usage of what precedes it", () => {
    const all = parseCommandLine(["--help"], TABLE);
    const group = parseCommandLine(["agents", "-h"], TABLE);
    const one = parseCommandLine(["agents", "kill", "--help"], TABLE);

    expect(all.kind === "help" && all.text).toContain("audit verify");
    expect(group.kind === "help" && group.text).toContain("agents register");
    expect(group.kind === "help" && group.text).not.toContain("audit verify");
    expect(one.kind === "help" && one.text).toContain("Usage: agentforge agents kill <id> --reason <text>");
  });

  it.each([
    [[], "missing command", undefined],
    [["bogus"], "unknown command 'bogus'", undefined],
    [["agents"], "missing agents command", "agents"],
    [["agents", "fly"], "unknown command 'agents fly'", "agents"],
    [["agents", "kill", "--reason", "x"], "missing <id>", "agents kill"],
    [["agents", "kill", "A1", "A2", "--reason", "x"], "unexpected argument 'A2'", "agents kill"],
    [["agents", "kill", "A1"], "--reason <text> is required: why", "agents kill"],
    [["agents", "kill", "A1", "--reason", "x", "--force"], "unknown option '--force'", "agents kill"],
    [["agents", "kill", "A1", "--reason"], "argument missing", "agents kill"],
    [["audit", "verify", "--json=yes"], "does not take an argument", "audit verify"],
    [
      ["agents", "register", "--cost-model", "red"],
      "--cost-model must be one of green, yellow, orange, not 'red'",
      "agents register",
    ],
  ])("refuses %j: %s", (argv, message, help) => {
    const error = usageError(argv);

    expect(error.message).toContain(message);
    expect(error.help).toBe(help);
  });
});

describe("usage", () => {
  it("writes a command's synopsis from its declaration", () => {
    expect(commandSynopsis(KILL)).toBe("agents kill <id> --reason <text> [--until <time>]");
    expect(commandSynopsis(REGISTER)).toBe(
      "agents register [--capability <name>...] [--cost-model <green|yellow|orange>]",
    );
  });

  it("lists every command of the CLI once, each with a summary", () => {
    const names = COMMANDS.map((c) => `${c.group} ${c.name}`);

    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining([
        "agents register",
        "agents list",
        "agents show",
        "agents kill",
        "agents revive",
        "agents rotate-secret",
        "agents rotate-key",
        "tasks show",
        "tasks ledger",
        "approvals list",
        "approvals approve",
        "approvals reject",
        "escrow list",
        "escrow resolve",
        "audit verify",
        "webhook send",
      ]),
    );
    for (const c of COMMANDS) expect(c.summary.length).toBeGreaterThan(10);
  });

  it("marks the commands an agent may run with its own key, and says which key wins", () => {
    const all = parseCommandLine(["--help"], COMMANDS);
    const text = all.kind === "help" ? all.text : "";

    expect(text).toMatch(/^ {2}\* agents show +An agent's profile/m);
    expect(text).toMatch(/^ {4}agents kill +Pull the kill switch/m);
    expect(text).toContain("* also with an agent's own key (AGENTFORGE_AGENT_KEY), for that agent only");
    expect(text).toContain("AGENTFORGE_AGENT_KEY, when set, wins");
    expect(text).toContain("AGENTFORGE_OPERATOR_TOKEN (a named operator's), else AGENTFORGE_API_TOKEN");
    expect(COMMANDS.filter((c) => c.access === "agent").map((c) => `${c.group} ${c.name}`)).toEqual([
      "agents register",
      "agents show",
      "agents ledger",
      "agents rotate-secret",
      "agents rotate-key",
      "tasks show",
    ]);

    const kill = parseCommandLine(["agents", "kill", "--help"], COMMANDS);
    const show = parseCommandLine(["agents", "show", "--help"], COMMANDS);
    expect(kill.kind === "help" && kill.text).toContain("Credentials: an operator token (an agent's key");
    expect(show.kind === "help" && show.text).toContain("or the agent's own key for itself");
  });
});
