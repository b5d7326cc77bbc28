import type { ZodError } from "zod";
import type { AgentRepository } from "../../ports/agent-repository.js";
import type { AwardTrigger } from "../../ports/award-trigger.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import { agentIdSchema, issueUrlSchema } from "../common.schema.js";
import { ConflictError, NotFoundError } from "../errors.js";
import type { TaskRecord } from "../tasks/task.types.js";
import { REJECTION_REASONS, type RejectionReason } from "./bidding.types.js";
import {
  type AgentMessage,
  agentMessageSchema,
  type BidMessage,
  type DeclineMessage,
  SIGNATURE_ATTRIBUTE,
} from "./messages.js";
import { verifyBodySignature } from "./signing.js";

/** One message from the bids queue, as the worker hands it over. */
export interface BidInput {
  /** The raw message body, exactly as received: the signature covers these bytes. */
  body: string;
  /** The `X-AgentForge-Signature` message attribute, if any. */
  signature?: string;
  /** The SQS message id; keys the rejection record, so a redelivery records nothing twice. */
  messageId: string;
  /** When the queue accepted the message (ISO, from SQS `SentTimestamp`). */
  sentAt: string;
}

/** What became of one agent message. Every permanent problem is a `rejected` receipt, never a throw. */
export type BidReceipt =
  | {
      status: "accepted" | "declined";
      task_id: string;
      agent_id: string;
      message_type: "BID" | "DECLINE";
      /**
       * Set when the early-award check failed after the answer was stored. The answer stands; the
       * deadline sweeper awards the task anyway.
       */
      award_error?: string;
    }
  | { status: "cost_recorded"; task_id: string; agent_id: string; message_type: "COST_REPORT" }
  | {
      status: "rejected";
      reason: RejectionReason;
      detail: string;
      /** Whether the rejection was stored on the task (only possible for a task that exists). */
      recorded: boolean;
      /** As claimed by the message: not verified unless the signature held. */
      task_id?: string;
      agent_id?: string;
      message_type?: string;
    };

/** Handles agent messages from the bids queue. */
export interface BidService {
  receive(input: BidInput): Promise<BidReceipt>;
}

export interface BidServiceOptions {
  agents: Pick<AgentRepository, "getSecret">;
  bidding: Pick<
    BiddingRepository,
    "getBiddingState" | "acceptBid" | "declineBid" | "recordRejection" | "recordCostReport"
  >;
  awards: AwardTrigger;
  /** Stands in for `sentAt` when that is not a valid instant. */
  now?: () => Date;
}

/** A reason to refuse a message, with a human-readable detail. */
export interface Refusal {
  reason: RejectionReason;
  detail: string;
}

/** Whatever could be read from a message that failed the schema. */
interface Claims {
  task_id?: string;
  agent_id?: string;
  message_type?: string;
}

export type ParsedAgentMessage =
  | { ok: true; message: AgentMessage }
  | ({ ok: false; detail: string } & Claims);

const MAX_ISSUES = 3;

function summarise(error: ZodError): string {
  return error.issues
    .slice(0, MAX_ISSUES)
    .map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}

/** The task, agent and type a malformed message names, each kept only if it is well-formed. */
function salvage(json: unknown): Claims {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return {};
  const { task_id, agent_id, type } = json as Record<string, unknown>;
  const task = issueUrlSchema.safeParse(task_id);
  const agent = agentIdSchema.safeParse(agent_id);
  return {
    ...(task.success ? { task_id: task.data } : {}),
    ...(agent.success ? { agent_id: agent.data } : {}),
    ...(typeof type === "string" ? { message_type: type.slice(0, 32) } : {}),
  };
}

/** Parses a bids-queue body with {@link agentMessageSchema}; a failure says why and what it still names. */
export function parseAgentMessage(body: string): ParsedAgentMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, detail: "body is not JSON" };
  }
  const result = agentMessageSchema.safeParse(json);
  if (result.success) return { ok: true, message: result.data };
  return { ok: false, detail: summarise(result.error), ...salvage(json) };
}

/** Whether the agent's stored answer already is this message (a redelivered or resent copy). */
function isStoredAnswer(stored: TaskRecord["bids"][number], message: BidMessage | DeclineMessage): boolean {
  if (message.type === "DECLINE") return stored.status === "DECLINED";
  return (
    stored.status === "ACCEPTED" &&
    stored.bid_amount === message.bid_amount &&
    stored.estimated_completion_sec === message.estimated_completion_sec
  );
}

/**
 * The checks on a signed BID or DECLINE against the task as read, in this order: NOT_INVITED (no bid
 * item for the agent), LATE (`sentAt` after `bid_deadline`; a message sent exactly at the deadline is
 * on time), OVER_BUDGET (a BID above `budget`), DUPLICATE (the stored answer is already this one),
 * BIDDING_CLOSED (the task is no longer OPEN). `undefined` means the answer may be stored.
 *
 * LATE is judged on the time the queue accepted the message, so queue lag or a worker outage never
 * makes an on-time bid late, and a redelivery keeps its original time. DUPLICATE comes before
 * BIDDING_CLOSED so that a redelivered bid that was stored before the award is reported as what it is.
 */
export function checkAnswer(
  message: BidMessage | DeclineMessage,
  record: Pick<TaskRecord, "task" | "bids">,
  sentAt: string,
): Refusal | undefined {
  const { task } = record;
  const stored = record.bids.find((bid) => bid.agent_id === message.agent_id);
  if (!stored) {
    return { reason: "NOT_INVITED", detail: `agent ${message.agent_id} was not invited to bid on this task` };
  }
  if (task.bid_deadline && Date.parse(sentAt) > Date.parse(task.bid_deadline)) {
    return { reason: "LATE", detail: `sent at ${sentAt}, after the bid deadline ${task.bid_deadline}` };
  }
  if (message.type === "BID" && task.budget !== undefined && message.bid_amount > task.budget) {
    return { reason: "OVER_BUDGET", detail: `bid ${message.bid_amount} is over the budget ${task.budget}` };
  }
  if (isStoredAnswer(stored, message)) {
    return {
      reason: "DUPLICATE",
      detail:
        message.type === "BID"
          ? `the same bid (${message.bid_amount}, ${message.estimated_completion_sec} s) is already stored`
          : "the agent's decline is already stored",
    };
  }
  if (task.status !== "OPEN") return { reason: "BIDDING_CLOSED", detail: `task is ${task.status}` };
  return undefined;
}

/** The rejection reason a repository ConflictError carries (`details.reason`, else its message prefix). */
export function conflictReason(error: unknown): RejectionReason | undefined {
  if (!(error instanceof ConflictError)) return undefined;
  const fromDetails = (error.details as { reason?: unknown } | undefined)?.reason;
  const candidate = typeof fromDetails === "string" ? fromDetails : error.message.split(":", 1)[0];
  return REJECTION_REASONS.find((reason) => reason === candidate);
}

/** `sentAt` normalised to `toISOString()`, or `undefined` when it is not an instant. */
function instant(value: string): string | undefined {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Receives BID, DECLINE and COST_REPORT messages from the bids queue.
 *
 * Checks, in order; the first that fails decides the rejection reason:
 * 1. MALFORMED — the body is not JSON or fails {@link agentMessageSchema}.
 * 2. UNKNOWN_TASK — no task has that id.
 * 3. UNKNOWN_AGENT — no agent (so no secret) has that id.
 * 4. UNSIGNED / BAD_SIGNATURE — the `X-AgentForge-Signature` attribute is missing, or is not the
 *    HMAC-SHA256 of the exact raw body with the agent's secret.
 * 5. BID / DECLINE: {@link checkAnswer} (NOT_INVITED, LATE, OVER_BUDGET, DUPLICATE, BIDDING_CLOSED),
 *    then the conditional write, whose failures map to BIDDING_CLOSED / NOT_INVITED (a race with the
 *    award), and for a BID to AGENT_DISABLED (the agent is kill-switched or suspended). A later, different valid answer replaces the agent's earlier one on its single bid item.
 *    After a stored answer, {@link AwardTrigger.awardIfDue} runs the early award; its failure is
 *    reported on the receipt, never thrown, since the answer is stored and the sweeper awards anyway.
 * 6. COST_REPORT: stored on the award; NOT_AWARDED unless the task is awarded to the agent.
 *
 * Every rejection of a message that names an existing task is recorded on that task with
 * `<REASON>: <detail>`, keyed by message id. UNKNOWN_TASK and unattributable MALFORMED messages are
 * not: recording them would let any sender create task partitions. Only transient infrastructure
 * errors throw, so SQS retries the message and finally moves it to the DLQ.
 */
export function createBidService({
  agents,
  bidding,
  awards,
  now = () => new Date(),
}: BidServiceOptions): BidService {
  async function reject(
    input: BidInput,
    sentAt: string,
    refusal: Refusal,
    claims: Claims,
    taskExists: boolean,
  ): Promise<BidReceipt> {
    if (taskExists && claims.task_id) {
      await bidding.recordRejection({
        task_id: claims.task_id,
        received_at: sentAt,
        message_id: input.messageId,
        ...(claims.agent_id ? { agent_id: claims.agent_id } : {}),
        ...(claims.message_type ? { message_type: claims.message_type } : {}),
        reason: `${refusal.reason}: ${refusal.detail}`,
      });
    }
    return { status: "rejected", ...refusal, recorded: taskExists && !!claims.task_id, ...claims };
  }

  async function store(
    message: BidMessage | DeclineMessage,
    sentAt: string,
  ): Promise<Refusal | "unknown_task" | undefined> {
    try {
      if (message.type === "BID") {
        await bidding.acceptBid(message.task_id, message.agent_id, {
          bid_amount: message.bid_amount,
          estimated_completion_sec: message.estimated_completion_sec,
          sent_at: sentAt,
        });
      } else {
        await bidding.declineBid(message.task_id, message.agent_id, sentAt);
      }
      return undefined;
    } catch (error) {
      const reason = conflictReason(error);
      if (
        reason === "BIDDING_CLOSED" ||
        reason === "NOT_INVITED" ||
        reason === "DUPLICATE" ||
        reason === "AGENT_DISABLED"
      ) {
        return { reason, detail: (error as Error).message.replace(/^[A-Z_]+:\s*/, "") };
      }
      if (error instanceof NotFoundError) return "unknown_task";
      throw error;
    }
  }

  return {
    async receive(input) {
      const sentAt = instant(input.sentAt) ?? now().toISOString();
      const parsed = parseAgentMessage(input.body);

      if (!parsed.ok) {
        const claims: Claims = {
          ...(parsed.task_id ? { task_id: parsed.task_id } : {}),
          ...(parsed.agent_id ? { agent_id: parsed.agent_id } : {}),
          ...(parsed.message_type ? { message_type: parsed.message_type } : {}),
        };
        const exists = claims.task_id ? (await bidding.getBiddingState(claims.task_id)) !== undefined : false;
        return reject(input, sentAt, { reason: "MALFORMED", detail: parsed.detail }, claims, exists);
      }

      const { message } = parsed;
      const claims: Claims = {
        task_id: message.task_id,
        agent_id: message.agent_id,
        message_type: message.type,
      };
      // Both reads are needed for any valid message; issuing them together halves the latency.
      const [record, secret] = await Promise.all([
        bidding.getBiddingState(message.task_id, message.agent_id),
        agents.getSecret(message.agent_id),
      ]);
      if (!record) {
        return reject(input, sentAt, { reason: "UNKNOWN_TASK", detail: "no such task" }, claims, false);
      }
      if (secret === undefined) {
        const refusal: Refusal = { reason: "UNKNOWN_AGENT", detail: `no agent ${message.agent_id}` };
        return reject(input, sentAt, refusal, claims, true);
      }
      if (!input.signature) {
        const refusal: Refusal = {
          reason: "UNSIGNED",
          detail: `no ${SIGNATURE_ATTRIBUTE} message attribute`,
        };
        return reject(input, sentAt, refusal, claims, true);
      }
      if (!verifyBodySignature(secret, input.body, input.signature)) {
        const refusal: Refusal = {
          reason: "BAD_SIGNATURE",
          detail: `the signature does not match the body and the secret of agent ${message.agent_id}`,
        };
        return reject(input, sentAt, refusal, claims, true);
      }

      if (message.type === "COST_REPORT") {
        try {
          await bidding.recordCostReport(message.task_id, message.agent_id, message.actual_cost);
        } catch (error) {
          if (conflictReason(error) !== "NOT_AWARDED") throw error;
          const refusal: Refusal = {
            reason: "NOT_AWARDED",
            detail: `task is not awarded to agent ${message.agent_id}`,
          };
          return reject(input, sentAt, refusal, claims, true);
        }
        return {
          status: "cost_recorded",
          task_id: message.task_id,
          agent_id: message.agent_id,
          message_type: message.type,
        };
      }

      const refusal = checkAnswer(message, record, sentAt);
      if (refusal) return reject(input, sentAt, refusal, claims, true);
      const stored = await store(message, sentAt);
      if (stored === "unknown_task") {
        return reject(input, sentAt, { reason: "UNKNOWN_TASK", detail: "no such task" }, claims, false);
      }
      if (stored) return reject(input, sentAt, stored, claims, true);

      const receipt: BidReceipt = {
        status: message.type === "BID" ? "accepted" : "declined",
        task_id: message.task_id,
        agent_id: message.agent_id,
        message_type: message.type,
      };
      try {
        await awards.awardIfDue(message.task_id);
      } catch (error) {
        receipt.award_error = describeError(error);
      }
      return receipt;
    },
  };
}
