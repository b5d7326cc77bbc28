import type { BidRejection, DeliveryResult, DeliveryStatus } from "../../domain/bidding/bidding.types.js";
import { ConflictError, NotFoundError } from "../../domain/errors.js";
import type { TaskStatus } from "../../domain/tasks/task.schema.js";
import type { Bid, Task } from "../../domain/tasks/task.types.js";
import { type RetryOptions, retry } from "../../lib/retry.js";
import type { BiddingRepository, BiddingState } from "../../ports/bidding-repository.js";
import type { NonceClaim } from "../../ports/nonce-store.js";
import { isConditionalCheckFailed } from "./dynamo-errors.js";
import type { MarketplaceService } from "./marketplace-service.js";

export interface BiddingRepositoryOptions {
  service: MarketplaceService;
  /** Seconds a rejection record is kept. */
  rejectionTtlSeconds?: number;
  now?: () => Date;
}

/** Control characters (NUL included) replaced by spaces: an endpoint's error text is stored and shown. */
function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to remove them
  return text.replace(/[\u0000-\u001f\u007f]/g, " ");
}

/** Bid items created per invite transaction, beside the task's counter (100 actions at most). */
const INVITES_PER_TRANSACTION = 99;

/** A transaction another writer of the same task cancelled; it is worth another try. */
class TransactionConflict extends Error {
  override name = "TransactionConflict";
  constructor(what: string, codes: readonly string[]) {
    super(`${what} transaction cancelled: ${codes.join(",")}`);
  }
}

/**
 * Writers racing on one task item: five attempts with full jitter under a ceiling of 10, 20, 40 and
 * 80 ms, never past the invocation's deadline. A give-up surfaces the last cancellation, and the
 * record is retried by SQS.
 */
const CONFLICT_RETRY = {
  attempts: 5,
  baseDelayMs: 10,
  maxDelayMs: 80,
  jitter: "full",
  isRetryable: (error: unknown) => error instanceof TransactionConflict,
} as const satisfies RetryOptions;

/** DynamoDB (ElectroDB) implementation of {@link BiddingRepository}. */
export function createBiddingRepository({
  service,
  rejectionTtlSeconds = 90 * 24 * 3600,
  now = () => new Date(),
}: BiddingRepositoryOptions): BiddingRepository {
  const { bid: bids, bidRejection, award: awards, task: tasks } = service.entities;

  type AnswerFields = {
    status: "ACCEPTED" | "DECLINED";
    sent_at: string;
    message_sent_at?: string;
    bid_amount?: number;
    estimated_completion_sec?: number;
  };

  /**
   * The forms an answer's write can take, tried in this order: `first` (the bid item is INVITED and
   * uncounted: `answered_count` moves by one), `revision` (the item already holds an answer older
   * than this one: no counter moves), and `afterUnreachable` (INVITED, but its bid request was
   * counted unreachable: the invitation moves from `unreachable_count` to `answered_count`). A
   * redelivery, or a second answer, never counts twice.
   */
  type AnswerForm = "first" | "revision" | "afterUnreachable";

  /** One attempt at the answer's transaction, in one {@link AnswerForm}. */
  async function attemptAnswer(
    taskId: string,
    agentId: string,
    fields: AnswerFields,
    form: AnswerForm,
    nonce: NonceClaim | undefined,
    limits: boolean,
  ) {
    const signed = fields.message_sent_at;
    const at = now().toISOString();
    const taskCondition = (
      attr: { status: string; bid_deadline: string; budget: string },
      op: {
        eq: (a: string, v: unknown) => string;
        gte: (a: string, v: unknown) => string;
        notExists: (a: string) => string;
      },
    ) => {
      const parts = [op.eq(attr.status, "OPEN")];
      // The deadline and budget, judged in the write itself rather than on a prior read. Deadlines
      // are stored as `toISOString()`, like `sent_at`, so string order is time order.
      if (limits)
        parts.push(`(${op.notExists(attr.bid_deadline)} OR ${op.gte(attr.bid_deadline, fields.sent_at)})`);
      if (limits && fields.bid_amount !== undefined) {
        parts.push(`(${op.notExists(attr.budget)} OR ${op.gte(attr.budget, fields.bid_amount)})`);
      }
      return parts.join(" AND ");
    };
    return service.transaction
      .write(({ bid, task, agentProfile, messageNonce }) => [
        form === "revision"
          ? task
              .check({ task_id: taskId })
              .where((attr, op) => taskCondition(attr as never, op as never))
              .commit()
          : task
              .patch({ task_id: taskId })
              .add(form === "first" ? { answered_count: 1 } : { answered_count: 1, unreachable_count: -1 })
              .where((attr, op) => taskCondition(attr as never, op as never))
              .commit(),
        bid
          .patch({ task_id: taskId, agent_id: agentId })
          .set({ ...fields, answered_at: at, updated_at: at })
          // Standard queues can deliver an older answer after a newer one: the newest send wins,
          // by the agent's own signed `sent_at` when there is one (protocol v2). Parenthesised:
          // ElectroDB ANDs its own existence checks in front of this clause.
          .where((attr, { eq, ne, notExists, exists, lte, lt }) => {
            if (form === "first")
              return `${eq(attr.status, "INVITED")} AND ${notExists(attr.counted_unreachable)}`;
            if (form === "afterUnreachable") {
              return `${eq(attr.status, "INVITED")} AND ${exists(attr.counted_unreachable)}`;
            }
            const newer =
              signed === undefined
                ? `(${notExists(attr.sent_at)} OR ${lte(attr.sent_at, fields.sent_at)})`
                : `(${notExists(attr.message_sent_at)} OR ${lt(attr.message_sent_at, signed)})`;
            return `${ne(attr.status, "INVITED")} AND ${newer}`;
          })
          .commit(),
        // The kill switch (or a suspension) stops a bid in the same request that flips it: this
        // check is part of the write, so no bid can be stored after the switch is on.
        ...(fields.status === "ACCEPTED"
          ? [
              agentProfile
                .check({ agent_id: agentId })
                .where(
                  (attr, { eq }) => `${eq(attr.status, "active")} AND ${eq(attr.kill_switch_active, false)}`,
                )
                .commit(),
            ]
          : []),
        // The message's nonce, claimed in the same request as the answer it carries: no crash can
        // fall between them, and a bid costs one write. The same SQS message may claim it again.
        ...(nonce
          ? [
              messageNonce
                .put(nonce)
                .where(
                  (attr, { notExists, eq }) =>
                    `(${notExists(attr.message_id)} OR ${eq(attr.message_id, nonce.message_id)})`,
                )
                .commit(),
            ]
          : []),
      ])
      .go();
  }

  /**
   * Writes an answer while the task is OPEN and the agent was invited (and, with `limits`, while the
   * send time is not past the deadline and a bid is within the budget). A first answer is tried
   * first, then a revision: the happy path is one request, with no read before it. A refused write
   * reads the task and the bid item (consistently) to say why, and hands them over on the error.
   */
  async function answer(
    taskId: string,
    agentId: string,
    fields: AnswerFields,
    nonce: NonceClaim | undefined,
    limits: boolean,
  ): Promise<void> {
    const codesOf = (data: unknown) => (data as Array<{ code: string }>).map((d) => d.code);
    const agentIndex = fields.status === "ACCEPTED" ? 2 : -1;
    // Resolves with `undefined` once a form committed, or with the cancellation codes of the last
    // form tried; a TransactionConflict (another writer on the task) is tried again.
    const tryForms = async (forms: readonly AnswerForm[]): Promise<string[] | undefined> => {
      const outcome = await retry(async () => {
        let codes: string[] = [];
        for (const form of forms) {
          const result = await attemptAnswer(taskId, agentId, fields, form, nonce, limits);
          if (!result.canceled) return undefined;
          codes = codesOf(result.data);
          if (codes.includes("TransactionConflict")) throw new TransactionConflict("Bid", codes);
          // The bid item's state refused it while task and nonce held: the next form may fit, and
          // only an attempt that reaches the profile check tells whether the agent is disabled.
          const [taskCode, bidCode] = codes;
          const nonceHeld = !nonce || codes.at(-1) === "None";
          if (!(taskCode === "None" && bidCode === "ConditionalCheckFailed" && nonceHeld)) break;
        }
        return codes;
      }, CONFLICT_RETRY);
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    };
    let codes = await tryForms(["first", "revision"]);
    if (codes === undefined) return;
    const failed = (code: string | undefined) => code === "ConditionalCheckFailed";
    if (nonce && failed(codes.at(-1))) {
      throw new ConflictError(`REPLAY: agent ${agentId} already used nonce ${nonce.nonce}`, {
        reason: "REPLAY",
      });
    }
    const [taskRead, bidRead] = await Promise.all([
      tasks.get({ task_id: taskId }).go({ consistent: true }),
      bids.get({ task_id: taskId, agent_id: agentId }).go({ consistent: true }),
    ]);
    const task = taskRead.data as Task | null;
    const bid = bidRead.data as Bid | null;
    if (!task) throw new NotFoundError("task", taskId);
    // The rare third form, only once the reads show it: a first answer to an invitation whose bid
    // request was counted unreachable (revisions and refusals never pay for this attempt).
    if (failed(codes[1]) && !failed(codes[0]) && bid?.status === "INVITED" && bid.counted_unreachable) {
      codes = await tryForms(["afterUnreachable"]);
      if (codes === undefined) return;
    }
    const [taskCode, bidCode] = codes;
    const state: BiddingState = { task, bids: bid ? [bid] : [] };
    const refuse = (reason: string, detail: string): never => {
      throw new ConflictError(`${reason}: ${detail}`, { reason, state });
    };
    if (failed(taskCode)) {
      if (task.status !== "OPEN") refuse("BIDDING_CLOSED", `task ${taskId} is ${task.status}`);
      if (limits && task.bid_deadline && Date.parse(fields.sent_at) > Date.parse(task.bid_deadline)) {
        refuse("LATE", `sent at ${fields.sent_at}, after the bid deadline ${task.bid_deadline}`);
      }
      if (
        limits &&
        fields.bid_amount !== undefined &&
        task.budget !== undefined &&
        fields.bid_amount > task.budget
      ) {
        refuse("OVER_BUDGET", `bid ${fields.bid_amount} is over the budget ${task.budget}`);
      }
    }
    if (!bid) refuse("NOT_INVITED", `agent ${agentId} was not invited to ${taskId}`);
    if (failed(codes[agentIndex]) && !failed(bidCode)) {
      refuse("AGENT_DISABLED", `agent ${agentId} is kill-switched or suspended`);
    }
    if (failed(bidCode) && bid && bid.status !== "INVITED") {
      refuse("SUPERSEDED", `a newer answer (sent ${bid.message_sent_at ?? bid.sent_at}) is already stored`);
    }
    throw new Error(`Bid transaction cancelled: ${codes.join(",")}`);
  }

  /** Moves the task's status `from` → `to`; `false` when it was not `from` (someone else moved it). */
  async function transition(taskId: string, from: TaskStatus, to: TaskStatus): Promise<boolean> {
    try {
      await tasks
        .patch({ task_id: taskId })
        .set({ status: to, updated_at: now().toISOString() })
        .where((attr, { eq }) => eq(attr.status, from))
        .go();
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  return {
    async getBiddingState(taskId, agentId) {
      const [task, bid] = await Promise.all([
        tasks.get({ task_id: taskId }).go({ consistent: true }),
        agentId === undefined
          ? Promise.resolve({ data: null })
          : bids.get({ task_id: taskId, agent_id: agentId }).go({ consistent: true }),
      ]);
      if (!task.data) return undefined;
      return { task: task.data as Task, bids: bid.data ? [bid.data as Bid] : [] };
    },

    async invite(taskId, agentIds) {
      const invitedAt = now().toISOString();
      const item = (agentId: string) => ({
        task_id: taskId,
        agent_id: agentId,
        status: "INVITED" as const,
        invited_at: invitedAt,
        delivery_status: "PENDING" as const,
        updated_at: invitedAt,
      });
      /**
       * Creates the bid items of `group` and adds them to the task's `invited_count`, all in one
       * transaction: `true` when it committed, `false` when one of the items already existed.
       */
      const inviteAll = async (group: string[]): Promise<boolean> => {
        const outcome = await retry(async () => {
          const result = await service.transaction
            .write(({ task, bid }) => [
              task.patch({ task_id: taskId }).add({ invited_count: group.length }).commit(),
              ...group.map((agentId) => bid.create(item(agentId)).commit()),
            ])
            .go();
          if (!result.canceled) return true;
          const codes = (result.data as Array<{ code: string }>).map((d) => d.code);
          if (codes[0] === "ConditionalCheckFailed") throw new NotFoundError("task", taskId);
          if (codes.includes("TransactionConflict")) throw new TransactionConflict("Invite", codes);
          if (codes.slice(1).includes("ConditionalCheckFailed")) return false;
          throw new Error(`Invite transaction cancelled: ${codes.join(",")}`);
        }, CONFLICT_RETRY);
        if (!outcome.ok) throw outcome.error;
        return outcome.value;
      };
      const fresh: string[] = [];
      const unique = [...new Set(agentIds)];
      // Up to 99 bid items and the task counter per transaction (its limit is 100 actions).
      for (let i = 0; i < unique.length; i += INVITES_PER_TRANSACTION) {
        const group = unique.slice(i, i + INVITES_PER_TRANSACTION);
        if (await inviteAll(group)) {
          fresh.push(...group);
          continue;
        }
        // A re-run: some were invited before. One at a time, so each counts exactly once.
        for (const agentId of group) if (await inviteAll([agentId])) fresh.push(agentId);
      }
      return fresh;
    },

    async recordDelivery(taskId, agentId, result: DeliveryResult) {
      const at = now().toISOString();
      if (result.ok) {
        await bids
          .patch({ task_id: taskId, agent_id: agentId })
          .set({ delivery_status: "DELIVERED", delivery_attempts: result.attempts, updated_at: at })
          .remove(["delivery_error"])
          .go();
        return false;
      }
      const failed = {
        delivery_status: "FAILED" as const,
        delivery_attempts: result.attempts,
        delivery_error: printable(result.error).slice(0, 512),
        updated_at: at,
      };
      // The first final failure of an unanswered invitation counts it as not answering, in the same
      // write as the task's counter; any other failure (already counted, or already answered) is
      // only recorded.
      const outcome = await retry(async () => {
        const written = await service.transaction
          .write(({ bid, task }) => [
            bid
              .patch({ task_id: taskId, agent_id: agentId })
              .set({ ...failed, counted_unreachable: true })
              .where(
                (attr, { eq, notExists }) =>
                  `${eq(attr.status, "INVITED")} AND ${notExists(attr.counted_unreachable)}`,
              )
              .commit(),
            task.patch({ task_id: taskId }).add({ unreachable_count: 1 }).commit(),
          ])
          .go();
        if (!written.canceled) return true;
        const codes = (written.data as Array<{ code: string }>).map((d) => d.code);
        if (codes.includes("TransactionConflict")) throw new TransactionConflict("Delivery", codes);
        if (codes[0] === "ConditionalCheckFailed") return false;
        throw new Error(`Delivery transaction cancelled: ${codes.join(",")}`);
      }, CONFLICT_RETRY);
      if (!outcome.ok) throw outcome.error;
      if (outcome.value) return true;
      try {
        await bids.patch({ task_id: taskId, agent_id: agentId }).set(failed).go();
      } catch (error) {
        // No bid item: the task or invitation is gone; nothing is left to record.
        if (!isConditionalCheckFailed(error)) throw error;
      }
      return false;
    },

    acceptBid: (taskId, agentId, { nonce, enforce_limits: limits = false, ...bid }) =>
      answer(taskId, agentId, { status: "ACCEPTED", ...bid }, nonce, limits),

    declineBid: (taskId, agentId, sentAt, signed) =>
      answer(
        taskId,
        agentId,
        {
          status: "DECLINED",
          sent_at: sentAt,
          ...(signed ? { message_sent_at: signed.message_sent_at } : {}),
        },
        signed?.nonce,
        signed?.enforce_limits ?? false,
      ),

    async recordRejection(rejection: Omit<BidRejection, "type">) {
      const expiresAt = Math.floor(now().getTime() / 1000) + rejectionTtlSeconds;
      try {
        await bidRejection
          .create({
            task_id: rejection.task_id,
            received_at: rejection.received_at,
            message_id: rejection.message_id,
            ...(rejection.agent_id ? { agent_id: rejection.agent_id.slice(0, 128) } : {}),
            ...(rejection.message_type ? { message_type: rejection.message_type.slice(0, 32) } : {}),
            reason: rejection.reason.slice(0, 512),
            expires_at: expiresAt,
          })
          .go();
      } catch (error) {
        // The same SQS message redelivered: its rejection is already recorded.
        if (!isConditionalCheckFailed(error)) throw error;
      }
    },

    async recordCostReport(taskId, agentId, actualCost, sentAt) {
      try {
        await awards
          .patch({ task_id: taskId })
          .set({ actual_cost: actualCost, ...(sentAt !== undefined ? { cost_sent_at: sentAt } : {}) })
          .where((attr, { eq, notExists, lt }) => {
            const winner = `${eq(attr.agent_id, agentId)} AND ${eq(attr.status, "AWARDED")}`;
            if (sentAt === undefined) return winner;
            return `${winner} AND (${notExists(attr.cost_sent_at)} OR ${lt(attr.cost_sent_at, sentAt)})`;
          })
          .go();
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw error;
        if (sentAt !== undefined) {
          const { data } = await awards.get({ task_id: taskId }).go({ consistent: true });
          if (data?.agent_id === agentId && data.status === "AWARDED" && data.cost_sent_at !== undefined) {
            throw new ConflictError(
              `SUPERSEDED: a cost report sent at ${data.cost_sent_at} is already stored; this one was sent at ${sentAt}`,
              { reason: "SUPERSEDED" },
            );
          }
        }
        throw new ConflictError(`NOT_AWARDED: task ${taskId} is not awarded to ${agentId}`, {
          reason: "NOT_AWARDED",
        });
      }
    },

    beginClosing: (taskId) => transition(taskId, "OPEN", "CLOSING"),

    async closeWithoutBids(taskId) {
      // CLOSING → NO_BIDS and the bid window's delete, in one transaction: the task leaves the
      // sweeper's index as it is decided.
      const outcome = await retry(async () => {
        const result = await service.transaction
          .write(({ task, bidWindow: windows }) => [
            task
              .patch({ task_id: taskId })
              .set({ status: "NO_BIDS", updated_at: now().toISOString() })
              .where((attr, { eq }) => eq(attr.status, "CLOSING"))
              .commit(),
            windows.delete({ task_id: taskId }).commit(),
          ])
          .go();
        if (!result.canceled) return true;
        const codes = (result.data as Array<{ code: string }>).map((d) => d.code);
        if (codes.includes("TransactionConflict")) throw new TransactionConflict("No-bids", codes);
        if (codes[0] === "ConditionalCheckFailed") return false;
        throw new Error(`No-bids transaction cancelled: ${codes.join(",")}`);
      }, CONFLICT_RETRY);
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    },

    /** A plain delete: idempotent, and since every decision deletes the window, usually a no-op. */
    async recordNotice(taskId, agentId, notice, status: DeliveryStatus) {
      await bids
        .patch({ task_id: taskId, agent_id: agentId })
        .set({ notice, notice_status: status, updated_at: now().toISOString() })
        .go();
    },
  };
}
