import { CreateQueueCommand, DeleteQueueCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  type Agent,
  type AgentEvent,
  type AgentTask,
  type Answer,
  startAgent,
} from "../../examples/agent/src/agent.js";
import type { AwardNotice, BidRequest } from "../../examples/agent/src/protocol.js";
import { type ApiClient, apiPath, jsonBody } from "../cli/api-client.js";
import { ApiError } from "../cli/errors.js";
import type { AgentView, Registration, TaskRecordView } from "../cli/responses.js";
import type { CostModel } from "../domain/agents/agent.schema.js";

/** How a simulated agent prices work. */
export interface BidStrategy {
  /** The bid amount; over a task's budget the agent declines instead. */
  price: number;
  estimatedCompletionSec: number;
  /** The cost it reports after winning, as a share of its bid (0.9: came in 10 % under). */
  costRatio: number;
}

/** What a simulated agent did, for progress output: the agent kit's events, and its invitation checks. */
export type SimAgentEvent =
  | AgentEvent
  /** It read the task with its own key before answering: `visibleBids` are the agents whose bids it saw. */
  | { kind: "confirmed"; agentId: string; taskId: string; visibleBids: string[] };

/** Everything one agent received and sent about one task. */
export interface AgentTaskLog extends AgentTask {
  /** `GET /tasks/{id}` as its own key read it when the request came: the proof it was invited. */
  invitation?: TaskRecordView;
}

export interface SimAgentOptions {
  agentId: string;
  capabilities: string[];
  costModel: CostModel;
  strategy: BidStrategy;
  /** A client of the SQS emulator the stack sends to (its endpoint and region). */
  sqs: SQSClient;
  /** The stack's REST API with an operator's token: registers the agent, and suspends it at the end. */
  operatorApi: Pick<ApiClient, "post">;
  /** The same API with the agent's own key (which its registration returns). */
  agentApi: (apiKey: string) => Pick<ApiClient, "get">;
  onEvent: (event: SimAgentEvent) => void;
}

export interface SimAgent {
  readonly agentId: string;
  readonly queueUrl: string;
  /** What this agent saw and did about `taskId` so far. */
  taskLog(taskId: string): Readonly<AgentTaskLog>;
  /** Its own profile, read with its own key. */
  profile(): Promise<AgentView>;
  /** Stops polling, suspends the registration (so nothing probes or invites it again) and deletes the queue. */
  stop(): Promise<void>;
}

/** The agent's answer to a call for proposals: a bid at its price, or a decline when that is over budget. */
export function answerFor(request: BidRequest, strategy: BidStrategy): Answer {
  if (request.budget !== null && strategy.price > request.budget) return { type: "DECLINE" };
  return {
    type: "BID",
    bid_amount: strategy.price,
    estimated_completion_sec: strategy.estimatedCompletionSec,
  };
}

/** The winner's actual cost: its bid times its cost ratio, in cents. */
export function actualCostFor(award: AwardNotice, strategy: BidStrategy): number {
  return Math.round(award.bid_amount * strategy.costRatio * 100) / 100;
}

/** Short polls: the emulator's long poll can hand one message to two receives (see STACK.md). */
const IDLE_MS = 100;

/**
 * Starts a simulated agent: creates its own queue on the emulator, has an operator register it as the
 * agent's bidding endpoint (`POST /agents`, keeping the API key and bid secret the answer shows once)
 * and runs the agent kit (examples/agent) on it, as an agent developer would: every message is
 * verified (signature, recipient, STALE, REPLAY), each task's request answered once, each award once
 * with a cost report. Before answering, the demo agent confirms the request with its own key
 * (`GET /tasks/{id}`, which answers an invited agent with its own bid only, anyone else 403).
 */
export async function startSimAgent(options: SimAgentOptions): Promise<SimAgent> {
  const { agentId, sqs, operatorApi, strategy, onEvent } = options;
  const { QueueUrl: queueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: `agentforge-demo-${agentId}`.slice(0, 80) }),
  );
  if (!queueUrl) throw new Error(`The SQS emulator returned no URL for agent ${agentId}'s queue`);
  const registration = {
    agent_id: agentId,
    capabilities: options.capabilities,
    cost_model: options.costModel,
    bidding_endpoint: queueUrl,
    wallet_address: `demo-wallet:${agentId}`,
  };

  let secret: string;
  let own: Pick<ApiClient, "get">;
  try {
    const { body } = await operatorApi.post<Registration>("/agents", jsonBody(registration));
    if (!body.bid_secret || !body.api_key) {
      throw new Error(
        `Registering agent ${agentId} returned no api_key and bid_secret: the agent id is already taken`,
      );
    }
    secret = body.bid_secret;
    own = options.agentApi(body.api_key);
  } catch (error) {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
    throw error;
  }

  const invitations = new Map<string, TaskRecordView>();

  /** The task as this agent's own key reads it, or undefined when the API says it was not invited (403). */
  async function invitation(taskId: string): Promise<TaskRecordView | undefined> {
    try {
      const { body } = await own.get<TaskRecordView>(apiPath("tasks", taskId));
      onEvent({ kind: "confirmed", agentId, taskId, visibleBids: body.bids.map((bid) => bid.agent_id) });
      return body;
    } catch (error) {
      if (error instanceof ApiError && error.status === 403) return undefined;
      throw error;
    }
  }

  const agent: Agent = startAgent({
    agentId,
    sqs,
    queueUrl,
    secret,
    waitSeconds: 0,
    idleMs: IDLE_MS,
    answer: (request) => answerFor(request, strategy),
    actualCost: (award) => actualCostFor(award, strategy),
    async beforeAnswer(request) {
      if (invitations.has(request.task_id)) return undefined;
      const record = await invitation(request.task_id);
      if (!record) return "GET /tasks with its own key answers 403: not invited";
      invitations.set(request.task_id, record);
      return undefined;
    },
    onEvent,
  });

  return {
    agentId,
    queueUrl,
    taskLog: (taskId) => {
      const invited = invitations.get(taskId);
      return { ...agent.task(taskId), ...(invited ? { invitation: invited } : {}) };
    },
    profile: async () => (await own.get<AgentView>(apiPath("agents", agentId))).body,
    async stop() {
      await agent.stop();
      try {
        // Only an operator may change a listing's status.
        await operatorApi.post("/agents", jsonBody({ ...registration, status: "suspended" }));
      } finally {
        await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
      }
    },
  };
}
