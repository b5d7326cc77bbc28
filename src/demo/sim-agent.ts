import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { z } from "zod";
import { type ApiClient, apiPath, jsonBody } from "../cli/api-client.js";
import { ApiError } from "../cli/errors.js";
import type { AgentView, Registration, TaskRecordView } from "../cli/responses.js";
import type { CostModel } from "../domain/agents/agent.schema.js";
import {
  type AgentMessage,
  type AwardNotice,
  type BidMessage,
  type BidRequest,
  type CostReportMessage,
  type DeclineMessage,
  type MarketplaceMessage,
  type RejectionNotice,
  SIGNATURE_ATTRIBUTE,
} from "../domain/bidding/messages.js";
import { signBody, verifyBodySignature } from "../domain/bidding/signing.js";

/** How a simulated agent prices work. */
export interface BidStrategy {
  /** The bid amount; over a task's budget the agent declines instead. */
  price: number;
  estimatedCompletionSec: number;
  /** The cost it reports after winning, as a share of its bid (0.9: came in 10 % under). */
  costRatio: number;
}

/** What a simulated agent did, for progress output. */
export type SimAgentEvent =
  | { kind: "received"; agentId: string; message: MarketplaceMessage }
  | { kind: "sent"; agentId: string; message: AgentMessage }
  /** It read the task with its own key before answering: `visibleBids` are the agents whose bids it saw. */
  | { kind: "confirmed"; agentId: string; taskId: string; visibleBids: string[] }
  /** A message it would not act on (bad signature, malformed, addressed to another agent); deleted. */
  | { kind: "refused"; agentId: string; reason: string }
  /** Handling a message failed; it stays on the queue and comes back after the visibility timeout. */
  | { kind: "failed"; agentId: string; error: Error };

/** Everything one agent received and sent about one task. */
export interface AgentTaskLog {
  request?: BidRequest;
  /** `GET /tasks/{id}` as its own key read it when the request came: the proof it was invited. */
  invitation?: TaskRecordView;
  answer?: BidMessage | DeclineMessage;
  notice?: AwardNotice | RejectionNotice;
  costReport?: CostReportMessage;
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

const inboundSchema: z.ZodType<MarketplaceMessage> = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("BID_REQUEST"),
    task_id: z.string(),
    title: z.string(),
    capabilities: z.array(z.string()),
    budget: z.number().nullable(),
    deadline: z.string(),
    reply_to: z.string(),
  }),
  z.object({
    type: z.literal("AWARD"),
    task_id: z.string(),
    agent_id: z.string(),
    bid_amount: z.number(),
    awarded_at: z.string(),
    reply_to: z.string(),
  }),
  z.object({
    type: z.literal("REJECTION"),
    task_id: z.string(),
    agent_id: z.string(),
    reason: z.string(),
  }),
]);

/** The agent's answer to a call for proposals: a bid at its price, or a decline when that is over budget. */
export function answerFor(
  agentId: string,
  request: BidRequest,
  strategy: BidStrategy,
): BidMessage | DeclineMessage {
  if (request.budget !== null && strategy.price > request.budget) {
    return { type: "DECLINE", task_id: request.task_id, agent_id: agentId };
  }
  return {
    type: "BID",
    task_id: request.task_id,
    agent_id: agentId,
    bid_amount: strategy.price,
    estimated_completion_sec: strategy.estimatedCompletionSec,
  };
}

/** The winner's cost report: its bid times its cost ratio, in cents. */
export function costReportFor(agentId: string, award: AwardNotice, strategy: BidStrategy): CostReportMessage {
  return {
    type: "COST_REPORT",
    task_id: award.task_id,
    agent_id: agentId,
    actual_cost: Math.round(award.bid_amount * strategy.costRatio * 100) / 100,
  };
}

/** Long-poll wait per receive; `stop()` aborts a wait in progress. */
const WAIT_SECONDS = 5;
/**
 * One message per receive: the emulator (local-aws-sqs) ends a long poll early only once it holds
 * `MaxNumberOfMessages` messages, so asking for one answers as soon as one arrives, as SQS does.
 */
const MESSAGES_PER_RECEIVE = 1;
/** Pause after a failed receive, so an emulator that went away is not hammered. */
const RECEIVE_RETRY_MS = 1_000;

/**
 * Starts a simulated agent: creates its own queue on the emulator, has an operator register it as the
 * agent's bidding endpoint (`POST /agents`, keeping the API key and bid-signing secret the answer shows
 * once) and long-polls it like a real consumer. Every message must carry the marketplace's signature
 * made with that secret. A BID_REQUEST is first confirmed with the agent's own key (`GET /tasks/{id}`,
 * which answers an invited agent with its own bid only, anyone else 403), then answered once per task
 * with a signed BID (or DECLINE) on its `reply_to` queue; an AWARD with a signed COST_REPORT; a
 * REJECTION is noted. Delivery is at least once, so repeats of a task's request or award are deleted
 * without a second answer.
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

  const logs = new Map<string, AgentTaskLog>();
  const logOf = (taskId: string): AgentTaskLog => {
    let log = logs.get(taskId);
    if (!log) {
      log = {};
      logs.set(taskId, log);
    }
    return log;
  };

  async function send(replyTo: string, message: AgentMessage): Promise<void> {
    const body = JSON.stringify(message);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: replyTo,
        MessageBody: body,
        MessageAttributes: {
          [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: signBody(secret, body) },
        },
      }),
    );
    onEvent({ kind: "sent", agentId, message });
  }

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

  /** Acts on a verified message; throws only for failures worth a redelivery. */
  async function react(message: MarketplaceMessage): Promise<void> {
    const log = logOf(message.task_id);
    switch (message.type) {
      case "BID_REQUEST": {
        log.request ??= message;
        if (log.answer) return;
        log.invitation ??= await invitation(message.task_id);
        if (!log.invitation) {
          onEvent({
            kind: "refused",
            agentId,
            reason: "GET /tasks with its own key answers 403: not invited",
          });
          return;
        }
        const answer = answerFor(agentId, message, strategy);
        await send(message.reply_to, answer);
        log.answer = answer;
        return;
      }
      case "AWARD": {
        log.notice ??= message;
        if (log.costReport) return;
        const report = costReportFor(agentId, message, strategy);
        await send(message.reply_to, report);
        log.costReport = report;
        return;
      }
      case "REJECTION":
        log.notice ??= message;
        return;
    }
  }

  /** The verified marketplace message, or why this agent will not act on it. */
  function check(message: Message): { reason: string } | { message: MarketplaceMessage } {
    const body = message.Body ?? "";
    if (!verifyBodySignature(secret, body, message.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue)) {
      return { reason: `no valid ${SIGNATURE_ATTRIBUTE} for this agent's secret` };
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      return { reason: "body is not JSON" };
    }
    const parsed = inboundSchema.safeParse(json);
    if (!parsed.success) return { reason: `not a marketplace message (${parsed.error.issues[0]?.message})` };
    if ("agent_id" in parsed.data && parsed.data.agent_id !== agentId) {
      return { reason: `${parsed.data.type} is addressed to agent ${parsed.data.agent_id}` };
    }
    return { message: parsed.data };
  }

  async function handle(message: Message): Promise<void> {
    const checked = check(message);
    try {
      if ("reason" in checked) {
        onEvent({ kind: "refused", agentId, reason: checked.reason });
      } else {
        onEvent({ kind: "received", agentId, message: checked.message });
        await react(checked.message);
      }
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
    } catch (error) {
      onEvent({ kind: "failed", agentId, error: error as Error });
    }
  }

  const stopping = new AbortController();
  const { signal } = stopping;
  const polling = (async () => {
    while (!signal.aborted) {
      let messages: Message[];
      try {
        ({ Messages: messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: MESSAGES_PER_RECEIVE,
            WaitTimeSeconds: WAIT_SECONDS,
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: signal },
        ));
      } catch (error) {
        if (signal.aborted) return;
        onEvent({ kind: "failed", agentId, error: error as Error });
        await sleep(RECEIVE_RETRY_MS);
        continue;
      }
      for (const message of messages) await handle(message);
    }
  })();

  return {
    agentId,
    queueUrl,
    taskLog: (taskId) => logs.get(taskId) ?? {},
    profile: async () => (await own.get<AgentView>(apiPath("agents", agentId))).body,
    async stop() {
      stopping.abort();
      await polling;
      try {
        // Only an operator may change a listing's status.
        await operatorApi.post("/agents", jsonBody({ ...registration, status: "suspended" }));
      } finally {
        await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }));
      }
    },
  };
}
