import type { ZodError } from "zod";
import type { AgentRepository, VerificationSecrets } from "../../ports/agent-repository.js";
import type { AwardTrigger } from "../../ports/award-trigger.js";
import type { BiddingRepository, BiddingState } from "../../ports/bidding-repository.js";
import type { NonceClaim, NonceStore } from "../../ports/nonce-store.js";
import { agentIdSchema, issueUrlSchema } from "../common.schema.js";
import { ConflictError, NotFoundError } from "../errors.js";
import type { TaskRecord } from "../tasks/task.types.js";
import { REJECTION_REASONS, type RejectionReason } from "./bidding.types.js";
import {
  type AgentMessage,
  agentMessageSchema,
  type BidMessage,
  type DeclineMessage,
  nonceSchema,
  SIGNATURE_ATTRIBUTE,
  sentAtSchema,
} from "./messages.js";
import { staleness, verifyBodySignature } from "./signing.js";

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
      /** Whether the signature held: until it does, nothing about the message is believed or written. */
      authenticated: boolean;
      /** Whether the rejection was stored on the task (only for a signed, fresh message naming one). */
      recorded: boolean;
      /** As claimed by the message: not verified unless `authenticated`. */
      task_id?: string;
      agent_id?: string;
      message_type?: string;
    };

export interface ReceiveOptions {
  /**
   * Takes the early-award check of a stored answer instead of running it at once: the batch handler
   * collects the tasks of a whole batch and runs {@link BidService.checkAward} once per task, so ten
   * answers for one task in a batch cost one read of its counters, not ten.
   */
  deferAwardCheck?: (taskId: string) => void;
}

/** Handles agent messages from the bids queue. */
export interface BidService {
  receive(input: BidInput, options?: ReceiveOptions): Promise<BidReceipt>;
  /**
   * The early-award check of one task: awards it if every invited agent answered (or its deadline
   * passed). Never throws: a failure is returned as a one-line description, and the answers stand,
   * since the deadline sweeper awards the task anyway.
   */
  checkAward(taskId: string): Promise<string | undefined>;
}

export interface BidServiceOptions {
  agents: Pick<AgentRepository, "getVerificationSecrets">;
  bidding: Pick<
    BiddingRepository,
    "getBiddingState" | "acceptBid" | "declineBid" | "recordRejection" | "recordCostReport"
  >;
  nonces: NonceStore;
  awards: AwardTrigger;
  /** How far `sent_at` may be from the queue's acceptance time before a message is STALE. */
  maxSkewSeconds?: number;
  /** Stands in for `sentAt` when that is not a valid instant. */
  now?: () => Date;
}

export const DEFAULT_MAX_SKEW_SECONDS = 300;
/** How long past the skew window a nonce is kept, for clock slack; any replay after that is STALE. */
const NONCE_MARGIN_SECONDS = 3600;

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
const CONTROL_CHARACTERS = /\p{Cc}/gu;
const MESSAGE_TYPE = /^[A-Z_]{1,32}$/;
const AGENT_MESSAGE_TYPES = new Set(["BID", "DECLINE", "COST_REPORT"]);

/**
 * The first schema issues, as text that is safe to store: zod quotes unknown keys, which come from the
 * sender, so control characters are replaced and the length is bounded.
 */
function summarise(error: ZodError): string {
  return error.issues
    .slice(0, MAX_ISSUES)
    .map((issue) => `${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`)
    .join("; ")
    .replace(CONTROL_CHARACTERS, "?")
    .slice(0, 400);
}

/** The task, agent and type a message names, each kept only if it is well-formed. */
function salvage(json: unknown): Claims {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return {};
  const { task_id, agent_id, type } = json as Record<string, unknown>;
  const task = issueUrlSchema.safeParse(task_id);
  const agent = agentIdSchema.safeParse(agent_id);
  return {
    ...(task.success ? { task_id: task.data } : {}),
    ...(agent.success ? { agent_id: agent.data } : {}),
    ...(typeof type === "string" && MESSAGE_TYPE.test(type) ? { message_type: type } : {}),
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
  return validateAgentMessage(json);
}

function validateAgentMessage(json: unknown): ParsedAgentMessage {
  const result = agentMessageSchema.safeParse(json);
  if (result.success) return { ok: true, message: result.data };
  return { ok: false, detail: summarise(result.error), ...salvage(json) };
}

/**
 * Which secret signed `body`: the current one, or the previous one while its overlap lasts at
 * `acceptedAt` (the queue's time, so a message queued in time is not refused for queue lag). A
 * refusal otherwise, which says when a previous secret matched too late.
 */
export function checkSignature(
  secrets: VerificationSecrets,
  body: string,
  signature: string,
  acceptedAt: string,
): Refusal | undefined {
  if (verifyBodySignature(secrets.current, body, signature)) return undefined;
  const { previous } = secrets;
  if (previous && verifyBodySignature(previous.secret, body, signature)) {
    if (Date.parse(acceptedAt) < Date.parse(previous.valid_until)) return undefined;
    return {
      reason: "BAD_SIGNATURE",
      detail: `signed with the agent's previous secret, whose overlap ended at ${previous.valid_until}`,
    };
  }
  return { reason: "BAD_SIGNATURE", detail: "the signature does not match the body and the agent's secret" };
}

/**
 * A signed `sent_at` in one fixed width (`toISOString()`, milliseconds), so that stored values order
 * as strings: `…:00Z` and `…:00.500Z` would not.
 */
export function signedInstant(sentAt: string): string {
  return new Date(Date.parse(sentAt)).toISOString();
}

/**
 * Whether the agent's stored answer already is this message: the same answer, signed no later than
 * the stored one (a redelivery, or a copy of it). The same answer signed later is written, so that
 * its time advances and an older answer still in the queue cannot overtake it.
 */
function isStoredAnswer(stored: TaskRecord["bids"][number], message: BidMessage | DeclineMessage): boolean {
  const sameAnswer =
    message.type === "DECLINE"
      ? stored.status === "DECLINED"
      : stored.status === "ACCEPTED" &&
        stored.bid_amount === message.bid_amount &&
        stored.estimated_completion_sec === message.estimated_completion_sec;
  if (!sameAnswer) return false;
  return stored.message_sent_at === undefined || stored.message_sent_at >= signedInstant(message.sent_at);
}

/**
 * The checks on a signed BID or DECLINE against the task as read, in this order: NOT_INVITED (no bid
 * item for the agent), LATE (`sentAt` after `bid_deadline`; a message sent exactly at the deadline is
 * on time), OVER_BUDGET (a BID above `budget`), DUPLICATE (the stored answer is already this one, and
 * not signed earlier than this message),
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
 * Receives BID, DECLINE and COST_REPORT messages (protocol v2) from the bids queue.
 *
 * Checks, in order; the first that fails decides the rejection reason:
 * 1. Authentication. Nothing about the message is believed, and nothing is written to the table or
 *    the audit chain, until its signature holds: MALFORMED (not JSON, or no well-formed `agent_id`),
 *    UNKNOWN_AGENT, UNSIGNED (no `X-AgentForge-Signature`), BAD_SIGNATURE (not the HMAC-SHA256 of the
 *    exact body with the agent's current secret, or with its previous one inside the rotation
 *    overlap). These are only logged and counted, so a flood of forgeries costs reads, never items.
 * 2. Freshness, never recorded, since a captured message re-sent by anyone would be one: MALFORMED
 *    for a body without a v2 envelope (`sent_at`, `nonce`: a v1 message), STALE (`sent_at` more than
 *    `maxSkewSeconds` from when SQS accepted it, either way), REPLAY (the agent used the nonce before;
 *    a redelivery of the same SQS message keeps its claim). Then MALFORMED, also unrecorded, for a
 *    type that is not an agent's (the marketplace's own messages to the agent carry its signature).
 * 3. MALFORMED — a fresh, signed agent message that fails {@link agentMessageSchema}: recorded on the
 *    task it names.
 * 4. UNKNOWN_TASK — no task has that id (only logged: recording it would let any agent create task
 *    partitions).
 * 5. BID / DECLINE: {@link checkAnswer} (NOT_INVITED, LATE, OVER_BUDGET, DUPLICATE, BIDDING_CLOSED),
 *    then the conditional write, whose failures map to BIDDING_CLOSED / NOT_INVITED (a race with the
 *    award), SUPERSEDED (a newer answer by signed `sent_at` is stored) and, for a BID, AGENT_DISABLED
 *    (kill-switched or suspended). A later valid answer replaces the earlier one on its single bid
 *    item. After a stored answer, {@link AwardTrigger.awardIfDue} runs the early award; its failure
 *    is reported on the receipt, never thrown, since the answer is stored and the sweeper awards.
 * 6. COST_REPORT: stored on the award; NOT_AWARDED unless the task is awarded to the agent,
 *    SUPERSEDED when a report sent later is already stored.
 *
 * The rejections of steps 3, 5 and 6 are recorded on the task with `<REASON>: <detail>`, keyed by
 * message id. Only transient infrastructure errors throw, so SQS retries the message and finally
 * moves it to the DLQ.
 */
export function createBidService({
  agents,
  bidding,
  nonces,
  awards,
  maxSkewSeconds = DEFAULT_MAX_SKEW_SECONDS,
  now = () => new Date(),
}: BidServiceOptions): BidService {
  /** A refusal before anything is written: the message is not (or no longer) the agent's word. */
  function refuse(refusal: Refusal, claims: Claims, authenticated: boolean): BidReceipt {
    return { status: "rejected", ...refusal, authenticated, recorded: false, ...claims };
  }

  /** A signed, fresh message's rejection, recorded on the task it names when that exists. */
  async function reject(
    input: BidInput,
    acceptedAt: string,
    refusal: Refusal,
    claims: Claims,
    taskExists: boolean,
  ): Promise<BidReceipt> {
    const recorded = taskExists && !!claims.task_id;
    if (recorded && claims.task_id) {
      await bidding.recordRejection({
        task_id: claims.task_id,
        received_at: acceptedAt,
        message_id: input.messageId,
        ...(claims.agent_id ? { agent_id: claims.agent_id } : {}),
        ...(claims.message_type ? { message_type: claims.message_type } : {}),
        reason: `${refusal.reason}: ${refusal.detail}`,
      });
    }
    return { status: "rejected", ...refusal, authenticated: true, recorded, ...claims };
  }

  /** Stores the answer and claims its nonce in one transaction. */
  async function store(
    message: BidMessage | DeclineMessage,
    acceptedAt: string,
    nonce: NonceClaim,
  ): Promise<Refusal | "unknown_task" | undefined> {
    // The deadline and budget are conditions of the write: nothing is read before it.
    const signed = { message_sent_at: signedInstant(message.sent_at), nonce, enforce_limits: true };
    try {
      if (message.type === "BID") {
        await bidding.acceptBid(message.task_id, message.agent_id, {
          bid_amount: message.bid_amount,
          estimated_completion_sec: message.estimated_completion_sec,
          sent_at: acceptedAt,
          ...signed,
        });
      } else {
        await bidding.declineBid(message.task_id, message.agent_id, acceptedAt, signed);
      }
      return undefined;
    } catch (error) {
      const reason = conflictReason(error);
      if (
        reason === "BIDDING_CLOSED" ||
        reason === "NOT_INVITED" ||
        reason === "DUPLICATE" ||
        reason === "SUPERSEDED" ||
        reason === "AGENT_DISABLED" ||
        reason === "LATE" ||
        reason === "OVER_BUDGET" ||
        reason === "REPLAY"
      ) {
        const refusal = { reason, detail: (error as Error).message.replace(/^[A-Z_]+:\s*/, "") };
        if (reason === "REPLAY") return refusal;
        // The task and bid item as read after the refused write: the documented order of checks
        // (NOT_INVITED, LATE, OVER_BUDGET, DUPLICATE, BIDDING_CLOSED) decides the reason given.
        const state = (error as ConflictError).details as { state?: BiddingState } | undefined;
        return (state?.state && checkAnswer(message, state.state, acceptedAt)) || refusal;
      }
      if (error instanceof NotFoundError) return "unknown_task";
      throw error;
    }
  }

  async function recordCost(
    input: BidInput,
    acceptedAt: string,
    message: Extract<AgentMessage, { type: "COST_REPORT" }>,
    claims: Claims,
  ): Promise<BidReceipt> {
    try {
      await bidding.recordCostReport(
        message.task_id,
        message.agent_id,
        message.actual_cost,
        signedInstant(message.sent_at),
      );
    } catch (error) {
      const reason = conflictReason(error);
      if (reason === "SUPERSEDED") {
        const detail = (error as Error).message.replace(/^[A-Z_]+:\s*/, "");
        return reject(input, acceptedAt, { reason, detail }, claims, true);
      }
      if (reason !== "NOT_AWARDED") throw error;
      const refusal: Refusal = {
        reason: "NOT_AWARDED",
        detail: `task is not awarded to agent ${message.agent_id}`,
      };
      return reject(input, acceptedAt, refusal, claims, true);
    }
    return {
      status: "cost_recorded",
      task_id: message.task_id,
      agent_id: message.agent_id,
      message_type: message.type,
    };
  }

  async function checkAward(taskId: string): Promise<string | undefined> {
    try {
      await awards.awardIfDue(taskId);
      return undefined;
    } catch (error) {
      return describeError(error);
    }
  }

  return {
    checkAward,

    async receive(input, { deferAwardCheck } = {}) {
      const acceptedAt = instant(input.sentAt) ?? now().toISOString();
      // The nonce claim trusts the message id to tell a redelivery from a copy: SQS always sets one.
      if (!input.messageId) return refuse({ reason: "MALFORMED", detail: "no SQS message id" }, {}, false);
      let json: unknown;
      try {
        json = JSON.parse(input.body);
      } catch {
        return refuse({ reason: "MALFORMED", detail: "body is not JSON" }, {}, false);
      }
      const claims = salvage(json);
      const agentId = claims.agent_id;
      if (!agentId) {
        const detail = "no well-formed agent_id, so the signature cannot be checked";
        return refuse({ reason: "MALFORMED", detail }, claims, false);
      }

      // The one read before a genuine BID or DECLINE is written: everything else it is judged on
      // (task OPEN, invited, deadline, budget, newest answer, kill switch, nonce) is a condition of
      // its write, and the task is read only to explain a refusal.
      const secrets = await agents.getVerificationSecrets(agentId);
      if (!secrets) return refuse({ reason: "UNKNOWN_AGENT", detail: `no agent ${agentId}` }, claims, false);
      if (!input.signature) {
        return refuse(
          { reason: "UNSIGNED", detail: `no ${SIGNATURE_ATTRIBUTE} message attribute` },
          claims,
          false,
        );
      }
      const forged = checkSignature(secrets, input.body, input.signature, acceptedAt);
      if (forged) return refuse(forged, claims, false);

      // Freshness before anything is recorded: a captured message, re-sent, must write nothing even
      // when its body is malformed. A body without a v2 envelope (a v1 message) is never recorded.
      const envelope = json as Record<string, unknown>;
      const sentAt = sentAtSchema.safeParse(envelope.sent_at);
      const nonce = nonceSchema.safeParse(envelope.nonce);
      if (!sentAt.success || !nonce.success) {
        const detail = "protocol v2 needs an ISO 8601 UTC sent_at and a 16-128 character nonce";
        return refuse({ reason: "MALFORMED", detail }, claims, true);
      }
      const stale = staleness(sentAt.data, acceptedAt, maxSkewSeconds);
      if (stale) return refuse({ reason: "STALE", detail: stale }, claims, true);
      // The same secret signs the marketplace's messages to this agent: one of those put on the bids
      // queue verifies, but it is not the agent's word, so it is not recorded either.
      if (!claims.message_type || !AGENT_MESSAGE_TYPES.has(claims.message_type)) {
        const detail = `type ${JSON.stringify(claims.message_type ?? null)} is not BID, DECLINE or COST_REPORT`;
        return refuse({ reason: "MALFORMED", detail }, claims, true);
      }

      const latest = Math.max(Date.parse(sentAt.data), Date.parse(acceptedAt), now().getTime());
      const claim: NonceClaim = {
        agent_id: agentId,
        nonce: nonce.data,
        message_id: input.messageId,
        sent_at: sentAt.data,
        // Counted from the latest of the three, so a claim written late (a queue backlog) still
        // outlives the window in which a copy of the message could be fresh.
        expires_at: Math.ceil(latest / 1000) + maxSkewSeconds + NONCE_MARGIN_SECONDS,
      };
      const replay = (): BidReceipt =>
        refuse(
          { reason: "REPLAY", detail: `agent ${agentId} already used nonce ${nonce.data}` },
          claims,
          true,
        );
      /**
       * Claims the nonce before a rejection is recorded, so a copy of the message records nothing.
       * A storable answer claims it inside its own transaction instead (see `store`).
       */
      const rejectOnce = async (refusal: Refusal, taskExists: boolean): Promise<BidReceipt> =>
        (await nonces.claim(claim)) ? reject(input, acceptedAt, refusal, claims, taskExists) : replay();

      const taskExists = async (taskId: string | undefined) =>
        taskId !== undefined && (await bidding.getBiddingState(taskId)) !== undefined;
      const parsed = validateAgentMessage(json);
      if (!parsed.ok) {
        const refusal: Refusal = { reason: "MALFORMED", detail: parsed.detail };
        return rejectOnce(refusal, await taskExists(claims.task_id));
      }
      const { message } = parsed;

      // Only logged: recording it would let any agent create task partitions. No nonce is claimed
      // for it either, since nothing is written.
      const unknownTask = () => refuse({ reason: "UNKNOWN_TASK", detail: "no such task" }, claims, true);
      if (message.type === "COST_REPORT") {
        if (!(await taskExists(message.task_id))) return unknownTask();
        return (await nonces.claim(claim)) ? recordCost(input, acceptedAt, message, claims) : replay();
      }

      const stored = await store(message, acceptedAt, claim);
      if (stored === "unknown_task") return unknownTask();
      if (stored?.reason === "REPLAY") return replay();
      if (stored) return rejectOnce(stored, true);

      const receipt: BidReceipt = {
        status: message.type === "BID" ? "accepted" : "declined",
        task_id: message.task_id,
        agent_id: message.agent_id,
        message_type: message.type,
      };
      if (deferAwardCheck) {
        deferAwardCheck(message.task_id);
        return receipt;
      }
      const awardError = await checkAward(message.task_id);
      if (awardError !== undefined) receipt.award_error = awardError;
      return receipt;
    },
  };
}
