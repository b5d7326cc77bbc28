/**
 * An AgentForge agent that consumes its own SQS queue: it verifies every message from the marketplace,
 * answers each call for proposals once with a sealed BID or DECLINE, and each award once with a sealed
 * COST_REPORT. What to bid and what the work cost are the caller's callbacks; everything else (the
 * protocol, at-least-once delivery, refusals) is handled here.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import {
  type AgentMessage,
  type AwardNotice,
  type Bid,
  type BidRequest,
  type CostReport,
  DEFAULT_MAX_SKEW_SECONDS,
  type Decline,
  type MarketplaceMessage,
  NonceMemory,
  type RefusalReason,
  type RejectionNotice,
  SIGNATURE_ATTRIBUTE,
  seal,
  type Unsealed,
  verifyMarketplaceMessage,
} from "./protocol.js";

/** What the strategy answers to a call for proposals. */
export type Answer =
  | {
      type: "BID" /** Dollars, at most two decimals. */;
      bid_amount: number;
      estimated_completion_sec: number;
    }
  | { type: "DECLINE" };

/** Everything this agent received and sent about one task. */
export interface AgentTask {
  request?: BidRequest;
  answer?: Bid | Decline;
  notice?: AwardNotice | RejectionNotice;
  costReport?: CostReport;
}

/**
 * Why a message was not acted on: a {@link RefusalReason} of the protocol, or `UNCONFIRMED` when the
 * `beforeAnswer` hook said not to answer.
 */
export type AgentRefusal = RefusalReason | "UNCONFIRMED";

/** What the agent did, for logs and tests. */
export type AgentEvent =
  /** A verified marketplace message (repeats of a task's request or award included). */
  | { kind: "received"; agentId: string; message: MarketplaceMessage }
  /** A sealed message it put on `reply_to`, as sent. */
  | { kind: "sent"; agentId: string; message: AgentMessage }
  /** A message it will not act on; deleted from the queue. */
  | { kind: "refused"; agentId: string; reason: AgentRefusal; detail: string }
  /** Receiving or handling failed; an unhandled message comes back after its visibility timeout. */
  | { kind: "failed"; agentId: string; error: Error };

export interface AgentOptions {
  agentId: string;
  /** A client for the region (and, locally, the endpoint) of the agent's queue. */
  sqs: SQSClient;
  /** The queue registered as the agent's `bidding_endpoint`. */
  queueUrl: string;
  /** The bid secret the registration (or the last rotation) returned. */
  secret: string;
  /** During a rotation: the secret before it, still accepted on incoming messages. */
  previousSecret?: string;
  /** Bid or decline; called once per task (again only if answering failed). */
  answer(request: BidRequest): Answer | Promise<Answer>;
  /** The actual cost of an awarded task, in dollars; called once per award. */
  actualCost(award: AwardNotice): number | Promise<number>;
  /**
   * Runs before a request is answered: `undefined` to answer, or why not (reported as `UNCONFIRMED`;
   * a repeat of the request asks again). Throwing leaves the message for a redelivery.
   */
  beforeAnswer?(request: BidRequest): Promise<string | undefined> | string | undefined;
  onEvent?(event: AgentEvent): void;
  /** Long-poll wait per receive: 20 on AWS; 0 (short poll) on the local SQS emulator. Default 20. */
  waitSeconds?: number;
  /** Messages per receive, 1–10. Default 10. */
  maxMessages?: number;
  /** Pause after an empty short-poll receive (`waitSeconds` 0). Default 500 ms. */
  idleMs?: number;
  /** Pause after a failed receive, so a queue that went away is not hammered. Default 1 s. */
  retryMs?: number;
  /** Allowed distance between `sent_at` and SQS `SentTimestamp`. Default 300 s, as the marketplace. */
  maxSkewSeconds?: number;
}

export interface Agent {
  readonly agentId: string;
  /** What the agent saw and did about `taskId` so far. */
  task(taskId: string): Readonly<AgentTask>;
  /**
   * After rotating the bid secret: sign with `current` from now on, and keep accepting `previous` on
   * incoming messages until messages sealed before the rotation have drained from the queue.
   */
  setSecrets(current: string, previous?: string): void;
  /** Stops polling: aborts a receive in progress and waits for the message being handled. */
  stop(): Promise<void>;
}

/** Starts polling the agent's queue; call `stop()` to end. */
export function startAgent(options: AgentOptions): Agent {
  const { agentId, sqs, queueUrl } = options;
  const waitSeconds = options.waitSeconds ?? 20;
  const idleMs = options.idleMs ?? 500;
  const retryMs = options.retryMs ?? 1_000;
  const maxSkewSeconds = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS;
  const emit = (event: AgentEvent) => options.onEvent?.(event);
  let secrets = [options.secret, ...(options.previousSecret ? [options.previousSecret] : [])];
  const nonces = new NonceMemory(maxSkewSeconds);
  const tasks = new Map<string, AgentTask>();
  const taskOf = (taskId: string): AgentTask => {
    let task = tasks.get(taskId);
    if (!task) {
      task = {};
      tasks.set(taskId, task);
    }
    return task;
  };

  /** Seals with the current secret and sends to `replyTo`; resolves to the message as sent. */
  async function send<T extends AgentMessage>(replyTo: string, message: Unsealed<T>): Promise<T> {
    const { body, signature } = seal<T>(message, secrets[0] as string);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: replyTo,
        MessageBody: body,
        MessageAttributes: { [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: signature } },
      }),
    );
    const sent = JSON.parse(body) as T;
    emit({ kind: "sent", agentId, message: sent });
    return sent;
  }

  async function answerRequest(request: BidRequest, task: AgentTask): Promise<void> {
    task.request ??= request;
    if (task.answer) return;
    const unconfirmed = await options.beforeAnswer?.(request);
    if (unconfirmed !== undefined) {
      emit({ kind: "refused", agentId, reason: "UNCONFIRMED", detail: unconfirmed });
      return;
    }
    const answer = await options.answer(request);
    const ids = { task_id: request.task_id, agent_id: agentId };
    task.answer =
      answer.type === "BID"
        ? await send<Bid>(request.reply_to, {
            type: "BID",
            ...ids,
            bid_amount: answer.bid_amount,
            estimated_completion_sec: answer.estimated_completion_sec,
          })
        : await send<Decline>(request.reply_to, { type: "DECLINE", ...ids });
  }

  async function reportCost(award: AwardNotice, task: AgentTask): Promise<void> {
    task.notice ??= award;
    if (task.costReport) return;
    const actual_cost = await options.actualCost(award);
    task.costReport = await send<CostReport>(award.reply_to, {
      type: "COST_REPORT",
      task_id: award.task_id,
      agent_id: agentId,
      actual_cost,
    });
  }

  async function react(message: MarketplaceMessage): Promise<void> {
    const task = taskOf(message.task_id);
    switch (message.type) {
      case "BID_REQUEST":
        return answerRequest(message, task);
      case "AWARD":
        return reportCost(message, task);
      case "REJECTION":
        task.notice ??= message;
        return;
    }
  }

  /** Verifies, acts, deletes. A failure leaves the message on the queue for a redelivery. */
  async function handle(received: Message): Promise<void> {
    const sentTimestamp = Number(received.Attributes?.SentTimestamp);
    if (!Number.isFinite(sentTimestamp)) {
      emit({
        kind: "failed",
        agentId,
        error: new Error(`The queue returned no SentTimestamp for message ${received.MessageId}`),
      });
      return;
    }
    const verified = verifyMarketplaceMessage(
      received.Body ?? "",
      received.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
      {
        agentId,
        secrets,
        acceptedAt: new Date(sentTimestamp),
        nonces,
        maxSkewSeconds,
        ...(received.MessageId ? { deliveryId: received.MessageId } : {}),
      },
    );
    if (verified.ok) {
      emit({ kind: "received", agentId, message: verified.message });
      try {
        await react(verified.message);
      } catch (error) {
        // Not deleted: SQS redelivers it (same message id, so not a replay) after its visibility timeout.
        emit({ kind: "failed", agentId, error: error as Error });
        return;
      }
    } else {
      emit({ kind: "refused", agentId, reason: verified.reason, detail: verified.detail });
    }
    try {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: received.ReceiptHandle }));
    } catch (error) {
      // Already acted on: its redelivery is recognised by the task's record and not answered again.
      emit({ kind: "failed", agentId, error: error as Error });
    }
  }

  const stopping = new AbortController();
  const { signal } = stopping;
  const pause = (ms: number) => sleep(ms, undefined, { signal }).catch(() => undefined);
  const polling = (async () => {
    while (!signal.aborted) {
      let messages: Message[];
      try {
        ({ Messages: messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: options.maxMessages ?? 10,
            WaitTimeSeconds: waitSeconds,
            // SentTimestamp is the accepted-at time; some emulators ignore MessageSystemAttributeNames.
            AttributeNames: ["All"],
            MessageSystemAttributeNames: ["SentTimestamp"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: signal },
        ));
      } catch (error) {
        if (signal.aborted) return;
        emit({ kind: "failed", agentId, error: error as Error });
        await pause(retryMs);
        continue;
      }
      // In order: a task's award never overtakes its request within one batch.
      for (const message of messages) await handle(message);
      if (messages.length === 0 && waitSeconds === 0) await pause(idleMs);
    }
  })();

  return {
    agentId,
    task: (taskId) => tasks.get(taskId) ?? {},
    setSecrets(current, previous) {
      secrets = [current, ...(previous ? [previous] : [])];
    },
    async stop() {
      stopping.abort();
      await polling;
    },
  };
}
