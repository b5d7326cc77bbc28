import { describe, expect, it } from "vitest";
import { agentRegistrationSchema } from "../../src/domain/agents/agent.schema.js";
import { ValidationError } from "../../src/domain/errors.js";
import { parseOrThrow } from "../../src/domain/validation.js";

const strict = agentRegistrationSchema({ allowLoopback: false });
const local = agentRegistrationSchema({ allowLoopback: true });

const valid = {
  agent_id: "A-Brain-v4-llama3-local",
  capabilities: ["python", "react"],
  cost_model: "green",
  bidding_endpoint: "https://sqs.us-east-1.amazonaws.com/123456789012/a-brain",
};

function issuesFor(input: unknown, schema = strict) {
  try {
    parseOrThrow(schema, input, "agent registration");
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).issues;
  }
  throw new Error("expected a ValidationError");
}

describe("agent registration validation", () => {
  it("accepts a valid registration and classifies the endpoint; status stays unset unless given", () => {
    const parsed = parseOrThrow(strict, valid, "agent registration");

    expect(parsed).toEqual({ ...valid, endpoint_kind: "sqs" });
  });

  it("deduplicates and sorts capabilities", () => {
    const parsed = parseOrThrow(strict, { ...valid, capabilities: ["react", "python", "react"] }, "x");

    expect(parsed.capabilities).toEqual(["python", "react"]);
  });

  it.each([
    ["empty", ""],
    ["key separator", "AGENT#1"],
    ["whitespace", "agent one"],
    ["leading dash", "-agent"],
    ["too long", "a".repeat(129)],
    ["not a string", 42],
  ])("rejects an unsafe agent_id (%s)", (_label, agent_id) => {
    expect(issuesFor({ ...valid, agent_id }).map((i) => i.path)).toEqual(["agent_id"]);
  });

  it.each([
    ["empty list", []],
    ["uppercase", ["Python"]],
    ["separator", ["py#thon"]],
    ["not a list", "python"],
    ["too many", Array.from({ length: 25 }, (_, i) => `cap${i}`)],
  ])("rejects bad capabilities (%s)", (_label, capabilities) => {
    expect(issuesFor({ ...valid, capabilities })[0]?.path).toMatch(/^capabilities/);
  });

  it("rejects a cost_model outside green/yellow/orange", () => {
    expect(issuesFor({ ...valid, cost_model: "red" })).toEqual([
      { path: "cost_model", message: "must be one of green, yellow, orange" },
    ]);
  });

  it.each([
    ["plain http", "http://agent.example.com/bids"],
    ["not a URL", "agent-queue"],
    ["credentials in URL", "https://user:pw@agent.example.com/bids"],
    ["ftp", "ftp://agent.example.com"],
    ["local queue when not allowed", "http://127.0.0.1:9324/000000000000/agent-q"],
  ])("rejects a bidding_endpoint that is not SQS or https (%s)", (_label, bidding_endpoint) => {
    expect(issuesFor({ ...valid, bidding_endpoint }).map((i) => i.path)).toEqual(["bidding_endpoint"]);
  });

  it("in local mode only, accepts a plain-http loopback server as an https agent", () => {
    expect(
      parseOrThrow(local, { ...valid, bidding_endpoint: "http://127.0.0.1:8123/bids" }, "x").endpoint_kind,
    ).toBe("https");
    expect(() =>
      parseOrThrow(strict, { ...valid, bidding_endpoint: "http://127.0.0.1:8123/bids" }, "x"),
    ).toThrow(/bidding_endpoint/);
    expect(() => parseOrThrow(local, { ...valid, bidding_endpoint: "http://10.0.0.8/bids" }, "x")).toThrow(
      /bidding_endpoint/,
    );
  });

  it("refuses a queue in the marketplace's own account", () => {
    const guarded = agentRegistrationSchema({ allowLoopback: false, forbiddenAccountIds: ["123456789012"] });

    expect(() => parseOrThrow(guarded, valid, "x")).toThrow(/marketplace's/);
    expect(
      parseOrThrow(
        guarded,
        { ...valid, bidding_endpoint: "https://sqs.us-east-1.amazonaws.com/210987654321/q" },
        "x",
      ).endpoint_kind,
    ).toBe("sqs");
  });

  it("classifies https endpoints, and local emulator queues only when allowed", () => {
    expect(
      parseOrThrow(strict, { ...valid, bidding_endpoint: "https://agent.example.com/bids" }, "x")
        .endpoint_kind,
    ).toBe("https");
    expect(
      parseOrThrow(local, { ...valid, bidding_endpoint: "http://127.0.0.1:9324/000000000000/agent-q" }, "x")
        .endpoint_kind,
    ).toBe("sqs");
  });

  it("rejects unknown fields and a bad status", () => {
    expect(issuesFor({ ...valid, secret: "x" })[0]?.message).toMatch(/secret/);
    expect(issuesFor({ ...valid, status: "retired" }).map((i) => i.path)).toEqual(["status"]);
  });

  it("reports every bad field at once", () => {
    const issues = issuesFor({ agent_id: "", capabilities: [], cost_model: "x", bidding_endpoint: 1 });

    expect(issues.map((i) => i.path).sort()).toEqual([
      "agent_id",
      "bidding_endpoint",
      "capabilities",
      "cost_model",
    ]);
  });
});
