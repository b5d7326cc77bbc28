import { describe, expect, it } from "vitest";
import type { AgentProfile } from "../../src/domain/agents/agent.types.js";
import type { DeliveryResult } from "../../src/domain/bidding/bidding.types.js";
import { type DeliveryJob, parseDeliveryJob } from "../../src/domain/bidding/delivery.js";
import { createDeliveryService } from "../../src/domain/bidding/delivery.service.js";
import { NonRetryableError } from "../../src/domain/bidding/retry.js";
import type { CircuitAdmission, EndpointCircuit } from "../../src/ports/endpoint-circuit.js";
import type { AgentEndpoint } from "../../src/ports/endpoint-sender.js";

/*
 * The delivery rules with in-memory ports: what is sent, recorded, retried and skipped for one job.
 * The same service runs on DynamoDB Local and real queues in test/integration/delivery.int.test.ts.
 */

const NOW = new Date("2026-07-01T12:00:00Z");
const TASK = "https://github.com/octo-org/octo-repo/issues/7";

function bidRequestJob(agentId: string, deadline = "2026-07-01T12:05:00.000Z"): DeliveryJob {
  return {
    task_id: TASK,
    agent_id: agentId,
    bidding_endpoint: `https://agents.example/${agentId}`,
    endpoint_kind: "https",
    message: {
      type: "BID_REQUEST",
      task_id: TASK,
      agent_id: agentId,
      title: "t",
      capabilities: ["python"],
      budget: null,
      deadline,
      reply_to: "https://sqs.us-east-1.amazonaws.com/123456789012/bids",
    },
  };
}

function noticeJob(agentId: string): DeliveryJob {
  return {
    task_id: TASK,
    agent_id: agentId,
    bidding_endpoint: `https://agents.example/old/${agentId}`,
    endpoint_kind: "https",
    message: { type: "REJECTION", task_id: TASK, agent_id: agentId, reason: "OUTBID: x" },
  };
}

function setup(
  options: {
    fail?: (endpoint: AgentEndpoint, attempt: number) => Error | undefined;
    admission?: CircuitAdmission;
    secret?: string | undefined;
    counted?: boolean;
    circuitThrows?: boolean;
    /** The circuit had no failure on record when it admitted the send. */
    clean?: boolean;
    profileEndpoint?: string;
  } = {},
) {
  const sent: Array<{ endpoint: string; secret: string }> = [];
  const recorded: Array<{ agent: string; result: DeliveryResult }> = [];
  const notices: Array<{ agent: string; status: string }> = [];
  const circuitResults: Array<boolean> = [];
  const awardChecks: string[] = [];
  const attempts = new Map<string, number>();
  const circuit: EndpointCircuit = {
    admit: async () => options.admission ?? { allowed: true, trial: false, clean: options.clean ?? true },
    record: async (_agent, _endpoint, result) => {
      if (options.circuitThrows) throw new Error("table throttled");
      circuitResults.push(result.ok);
      return { change: "none", consecutive_failures: result.ok ? 0 : 1 };
    },
  };
  const service = createDeliveryService({
    agents: {
      getSecret: async () => ("secret" in options ? options.secret : "s3cret"),
      getProfiles: async (ids) =>
        new Map(
          ids.map((id) => [
            id,
            {
              agent_id: id,
              bidding_endpoint: options.profileEndpoint ?? `https://agents.example/new/${id}`,
              endpoint_kind: "https",
            } as AgentProfile,
          ]),
        ),
    },
    bidding: {
      recordDelivery: async (_task, agent, result) => {
        recorded.push({ agent, result });
        return options.counted ?? false;
      },
      recordNotice: async (_task, agent, _notice, status) => {
        notices.push({ agent, status });
      },
    },
    sender: {
      async send(endpoint, _message, secret) {
        const n = (attempts.get(endpoint.agent_id) ?? 0) + 1;
        attempts.set(endpoint.agent_id, n);
        const error = options.fail?.(endpoint, n);
        if (error) throw error;
        sent.push({ endpoint: endpoint.bidding_endpoint, secret });
      },
    },
    circuit,
    awards: { awardIfDue: async (taskId) => void awardChecks.push(taskId) },
    retry: { sleep: async () => {} },
    now: () => NOW,
  });
  return { service, sent, recorded, notices, circuitResults, awardChecks };
}

describe("delivery: one job", () => {
  it("signs with the agent's secret and records DELIVERED; a clean circuit needs no write", async () => {
    const t = setup();
    const outcome = await t.service.deliver(bidRequestJob("a"));
    expect(outcome).toMatchObject({ status: "DELIVERED", attempts: 1, retry: false, circuit_open: false });
    expect(t.sent).toEqual([{ endpoint: "https://agents.example/a", secret: "s3cret" }]);
    expect(t.recorded).toEqual([{ agent: "a", result: { ok: true, attempts: 1 } }]);
    expect(t.circuitResults).toEqual([]);
    expect(t.awardChecks).toEqual([]);
  });

  it("a success after failures on record tells the circuit, which may close", async () => {
    const t = setup({ clean: false });
    expect(await t.service.deliver(bidRequestJob("a"))).toMatchObject({ status: "DELIVERED" });
    expect(t.circuitResults).toEqual([true]);
  });

  it("retries a failing endpoint, then records FAILED; a counted failure asks for the award", async () => {
    const t = setup({ fail: () => new Error("HTTP 503 from agents.example"), counted: true });
    const outcome = await t.service.deliver(bidRequestJob("a"));
    expect(outcome).toMatchObject({ status: "FAILED", attempts: 3, retry: false });
    expect(t.recorded[0]?.result).toEqual({ ok: false, attempts: 3, error: "HTTP 503 from agents.example" });
    expect(t.circuitResults).toEqual([false]);
    expect(t.awardChecks).toEqual([TASK]);
  });

  it("a failure the sender marks final is tried once", async () => {
    const t = setup({ fail: () => new NonRetryableError("HTTP 404 from agents.example") });
    expect(await t.service.deliver(bidRequestJob("a"))).toMatchObject({ status: "FAILED", attempts: 1 });
  });

  it("an open circuit sends nothing and records FAILED with its CIRCUIT_OPEN reason", async () => {
    const reason = "CIRCUIT_OPEN: 3 consecutive failures; retried after 2026-07-01T12:05:00.000Z";
    const t = setup({ admission: { allowed: false, reason } });
    const outcome = await t.service.deliver(bidRequestJob("a"));
    expect(outcome).toMatchObject({ status: "FAILED", attempts: 0, error: reason, circuit_open: true });
    expect(t.sent).toEqual([]);
    expect(t.circuitResults).toEqual([]);
  });

  it("a bid request past its deadline is not sent", async () => {
    const t = setup();
    const outcome = await t.service.deliver(bidRequestJob("a", "2026-07-01T11:59:59.000Z"));
    expect(outcome).toMatchObject({ status: "FAILED", attempts: 0 });
    expect(outcome.error).toMatch(/^DEADLINE_PASSED: /);
    expect(t.sent).toEqual([]);
  });

  it("never sends unsigned: an agent without a secret is FAILED, and a notice to it is not retried", async () => {
    const t = setup({ secret: undefined });
    expect(await t.service.deliver(noticeJob("a"))).toMatchObject({
      status: "FAILED",
      attempts: 0,
      retry: false,
    });
    expect(t.sent).toEqual([]);
  });

  it("a failed notice asks the queue to offer it again; it goes to the agent's current endpoint", async () => {
    const t = setup({ fail: () => new Error("timed out") });
    expect(await t.service.deliver(noticeJob("a"))).toMatchObject({
      kind: "REJECTION",
      status: "FAILED",
      retry: true,
    });
    expect(t.notices).toEqual([{ agent: "a", status: "FAILED" }]);

    const healed = setup();
    await healed.service.deliver(noticeJob("a"));
    expect(healed.sent).toEqual([{ endpoint: "https://agents.example/new/a", secret: "s3cret" }]);
    expect(healed.notices).toEqual([{ agent: "a", status: "DELIVERED" }]);
  });

  it("a circuit that cannot be written is advice lost, not a failed delivery", async () => {
    const t = setup({ circuitThrows: true, clean: false });
    expect(await t.service.deliver(bidRequestJob("a"))).toMatchObject({ status: "DELIVERED" });
    expect(t.recorded).toHaveLength(1);
  });
});

describe("delivery: reading a job", () => {
  const valid = JSON.stringify(bidRequestJob("a"));

  it("reads a well-formed job", () => {
    expect(parseDeliveryJob(valid)).toEqual(bidRequestJob("a"));
  });

  it.each([
    ["not JSON", "{", "body is not JSON"],
    ["an array", "[]", "body is not an object"],
    ["no agent", JSON.stringify({ ...bidRequestJob("a"), agent_id: "" }), "agent_id:"],
    ["a bad kind", JSON.stringify({ ...bidRequestJob("a"), endpoint_kind: "smtp" }), "endpoint_kind:"],
    [
      "another agent's message",
      JSON.stringify({ ...bidRequestJob("a"), message: bidRequestJob("b").message }),
      "message.agent_id:",
    ],
    [
      "an unknown message type",
      JSON.stringify({ ...bidRequestJob("a"), message: { type: "BID" } }),
      "message.type:",
    ],
  ])("refuses %s with a reason", (_name, body, reason) => {
    const parsed = parseDeliveryJob(body);
    expect(typeof parsed).toBe("string");
    expect(parsed).toContain(reason);
  });
});
