import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateQueueCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import {
  type AwardNotice,
  type BidRequest,
  SIGNATURE_ATTRIBUTE,
  verifySignature,
} from "../../examples/agent/src/protocol.js";
import type { ApiClient } from "../../src/cli/api-client.js";
import { ApiError } from "../../src/cli/errors.js";
import {
  actualCostFor,
  answerFor,
  type BidStrategy,
  type SimAgentEvent,
  startSimAgent,
} from "../../src/demo/sim-agent.js";
import { agentMessageSchema } from "../../src/domain/bidding/messages.js";
import { sealedMarketplaceMessage } from "../helpers/agent-messages.js";

const TASK = "https://github.com/agentforge-demo/run-0a1b2c3d/issues/1";
const STRATEGY: BidStrategy = { price: 45, estimatedCompletionSec: 5400, costRatio: 0.9 };

const ENVELOPE = { sent_at: "2025-07-01T12:00:00.000Z", nonce: "nonce-0123456789abcdef" };

const request = (budget: number | null): BidRequest => ({
  type: "BID_REQUEST",
  task_id: TASK,
  agent_id: "demo-frugal",
  title: "Add retry with backoff",
  capabilities: ["typescript"],
  budget,
  deadline: "2025-07-01T12:05:00.000Z",
  reply_to: "http://127.0.0.1:4566/000000000000/agentforge-bids",
  ...ENVELOPE,
});

describe("simulated agent's answers", () => {
  it("bids its price and estimate on a task within budget", () => {
    expect(answerFor(request(100), STRATEGY)).toEqual({
      type: "BID",
      bid_amount: 45,
      estimated_completion_sec: 5400,
    });
  });

  it("bids on a task without a budget, and at exactly the budget", () => {
    expect(answerFor(request(null), STRATEGY).type).toBe("BID");
    expect(answerFor(request(45), STRATEGY).type).toBe("BID");
  });

  it("declines a task whose budget is below its price rather than bid over budget", () => {
    expect(answerFor(request(44.99), STRATEGY)).toEqual({ type: "DECLINE" });
  });

  it("reports its bid times its cost ratio, rounded to cents", () => {
    const award: AwardNotice = {
      type: "AWARD",
      task_id: TASK,
      agent_id: "demo-frugal",
      bid_amount: 33.33,
      awarded_at: "2025-07-01T12:01:00.000Z",
      reply_to: "http://127.0.0.1:4566/000000000000/agentforge-bids",
      ...ENVELOPE,
    };

    expect(actualCostFor(award, STRATEGY)).toBe(30);
  });
});

describe("simulated agent's own key", () => {
  const INVITED = TASK;
  const OTHER = "https://github.com/agentforge-demo/run-0a1b2c3d/issues/2";
  const API_KEY = `afk_${"0a".repeat(10)}_${"k".repeat(43)}`;

  /** An SQS emulator stand-in: the agent's queue holds `inbox`; what it sends is recorded. */
  function fakeSqs(inbox: Message[]) {
    const sent: Array<{ queue: string | undefined; body: string; signature: string | undefined }> = [];
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
          sent.push({
            queue: command.input.QueueUrl,
            body: command.input.MessageBody ?? "",
            signature: command.input.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
          });
        }
        return {};
      },
    };
    return { sqs: client as unknown as SQSClient, sent };
  }

  /** A request sealed with the agent's secret, as the queue hands it over (SentTimestamp: now). */
  const signed = (taskId: string): Message => {
    const { task_id: _, sent_at: _s, nonce: _n, ...rest } = request(100);
    const { body, attributes } = sealedMarketplaceMessage({ ...rest, task_id: taskId }, "s3cret");
    return {
      MessageId: taskId,
      Body: body,
      ReceiptHandle: taskId,
      Attributes: { SentTimestamp: String(Date.now()) },
      MessageAttributes: attributes,
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
        reason: "UNCONFIRMED",
        detail: "GET /tasks with its own key answers 403: not invited",
      },
      { kind: "confirmed", agentId: "demo-frugal", taskId: INVITED, visibleBids: ["demo-frugal"] },
    ]);
    // The kit's answer: sealed with the agent's secret, in the shape the bid worker accepts.
    const bid = JSON.parse(sent[0]?.body ?? "");
    expect(bid).toMatchObject({ type: "BID", task_id: INVITED, agent_id: "demo-frugal", bid_amount: 45 });
    expect(agentMessageSchema.parse(bid)).toEqual(bid);
    expect(verifySignature("s3cret", sent[0]?.body ?? "", sent[0]?.signature)).toBe(true);
    expect(agent.taskLog(OTHER).answer).toBeUndefined();
    // Retiring it (a status change) is the operator's.
    expect(registrations).toEqual([
      expect.not.objectContaining({ status: expect.anything() }),
      expect.objectContaining({ agent_id: "demo-frugal", status: "suspended" }),
    ]);
  });
});
