import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateQueueCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import type { ApiClient } from "../../src/cli/api-client.js";
import { ApiError } from "../../src/cli/errors.js";
import {
  answerFor,
  type BidStrategy,
  costReportFor,
  type SimAgentEvent,
  startSimAgent,
} from "../../src/demo/sim-agent.js";
import {
  type AwardNotice,
  agentMessageSchema,
  type BidRequest,
  SIGNATURE_ATTRIBUTE,
} from "../../src/domain/bidding/messages.js";
import { signBody } from "../../src/domain/bidding/signing.js";

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

describe("simulated agent's own key", () => {
  const INVITED = TASK;
  const OTHER = "https://github.com/agentforge-demo/run-0a1b2c3d/issues/2";
  const API_KEY = `afk_${"0a".repeat(10)}_${"k".repeat(43)}`;

  /** An SQS emulator stand-in: the agent's queue holds `inbox`; what it sends is recorded. */
  function fakeSqs(inbox: Message[]) {
    const sent: Array<{ queue: string | undefined; body: string | undefined }> = [];
    const client = {
      send: async (command: unknown) => {
        if (command instanceof CreateQueueCommand)
          return { QueueUrl: "http://127.0.0.1:1/000000000000/agent" };
        if (command instanceof ReceiveMessageCommand) {
          const next = inbox.shift();
          if (!next) await sleep(5);
          return { Messages: next ? [next] : [] };
        }
        if (command instanceof SendMessageCommand) {
          sent.push({ queue: command.input.QueueUrl, body: command.input.MessageBody });
        }
        return {};
      },
    };
    return { sqs: client as unknown as SQSClient, sent };
  }

  const signed = (taskId: string): Message => {
    const body = JSON.stringify({ ...request(100), task_id: taskId });
    return {
      Body: body,
      ReceiptHandle: taskId,
      MessageAttributes: {
        [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: signBody("s3cret", body) },
      },
    };
  };

  it("registers as the operator, then confirms each invitation with its own key before it bids", async () => {
    const { sqs, sent } = fakeSqs([signed(OTHER), signed(INVITED)]);
    const registrations: unknown[] = [];
    const keys: string[] = [];
    const reads: string[] = [];
    const events: SimAgentEvent[] = [];
    const operatorApi: Pick<ApiClient, "post"> = {
      post: async <T>(_path: string, options?: { body?: unknown }) => {
        registrations.push(JSON.parse(String(options?.body)));
        return { status: 201, body: { agent: {}, api_key: API_KEY, bid_secret: "s3cret" } as T };
      },
    };
    const agentApi = (key: string): Pick<ApiClient, "get"> => {
      keys.push(key);
      return {
        get: async <T>(path: string) => {
          reads.push(decodeURIComponent(path));
          if (path.includes(encodeURIComponent(OTHER))) {
            throw new ApiError(403, "FORBIDDEN", "agent:demo-frugal lacks tasks:read for this task");
          }
          return { status: 200, body: { bids: [{ agent_id: "demo-frugal" }] } as T };
        },
      };
    };

    const agent = await startSimAgent({
      agentId: "demo-frugal",
      capabilities: ["typescript"],
      costModel: "green",
      strategy: STRATEGY,
      sqs,
      operatorApi,
      agentApi,
      onEvent: (event) => events.push(event),
    });
    await expect.poll(() => sent.length).toBe(1);
    await agent.stop();

    expect(keys).toEqual([API_KEY]);
    expect(reads).toEqual([`/tasks/${OTHER}`, `/tasks/${INVITED}`]);
    expect(events.filter((e) => e.kind === "refused" || e.kind === "confirmed")).toEqual([
      {
        kind: "refused",
        agentId: "demo-frugal",
        reason: "GET /tasks with its own key answers 403: not invited",
      },
      { kind: "confirmed", agentId: "demo-frugal", taskId: INVITED, visibleBids: ["demo-frugal"] },
    ]);
    expect(JSON.parse(sent[0]?.body ?? "")).toMatchObject({ type: "BID", task_id: INVITED });
    expect(agent.taskLog(OTHER).answer).toBeUndefined();
    // Retiring it (a status change) is the operator's.
    expect(registrations).toEqual([
      expect.not.objectContaining({ status: expect.anything() }),
      expect.objectContaining({ agent_id: "demo-frugal", status: "suspended" }),
    ]);
  });
});
