import type { BidRejection, DeliveryResult, DeliveryStatus } from "../../domain/bidding/bidding.types.js";
import { ConflictError, NotFoundError } from "../../domain/errors.js";
import type { TaskStatus } from "../../domain/tasks/task.schema.js";
import type { Bid, Task } from "../../domain/tasks/task.types.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import type { NonceClaim } from "../../ports/nonce-store.js";
import { isConditionalCheckFailed } from "./dynamo-errors.js";
import type { MarketplaceService } from "./marketplace-service.js";

export interface BiddingRepositoryOptions {
  service: MarketplaceService;
  /** Seconds a rejection record is kept. */
  rejectionTtlSeconds?: number;
  now?: () => Date;
}

/** DynamoDB (ElectroDB) implementation of {@link BiddingRepository}. */
export function createBiddingRepository({
  service,
  rejectionTtlSeconds = 90 * 24 * 3600,
  now = () => new Date(),
}: BiddingRepositoryOptions): BiddingRepository {
  const { bid: bids, bidRejection, award: awards, task: tasks, bidWindow } = service.entities;

  /** Writes an answer while the task is OPEN and the agent was invited; maps each failed condition. */
  async function answer(
    taskId: string,
    agentId: string,
    fields: {
      status: "ACCEPTED" | "DECLINED";
      sent_at: string;
      message_sent_at?: string;
      bid_amount?: number;
      estimated_completion_sec?: number;
    },
    nonce?: NonceClaim,
  ): Promise<void> {
    const signed = fields.message_sent_at;
    const at = now().toISOString();
    const result = await service.transaction
      .write(({ bid, task, agentProfile, messageNonce }) => [
        task
          .check({ task_id: taskId })
          .where((attr, { eq }) => eq(attr.status, "OPEN"))
          .commit(),
        bid
          .patch({ task_id: taskId, agent_id: agentId })
          .set({ ...fields, answered_at: at, updated_at: at })
          // Standard queues can deliver an older answer after a newer one: the newest send wins,
          // by the agent's own signed `sent_at` when there is one (protocol v2). Parenthesised:
          // ElectroDB ANDs its own existence checks in front of this clause.
          .where((attr, { notExists, lte, lt }) =>
            signed === undefined
              ? `(${notExists(attr.sent_at)} OR ${lte(attr.sent_at, fields.sent_at)})`
              : `(${notExists(attr.message_sent_at)} OR ${lt(attr.message_sent_at, signed)})`,
          )
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
    if (!result.canceled) return;
    const codes = result.data as Array<{ code: string }>;
    const [taskCheck, bidWrite] = codes;
    const agentCheck = fields.status === "ACCEPTED" ? codes[2] : undefined;
    const nonceClaim = nonce ? codes.at(-1) : undefined;
    if (nonceClaim?.code === "ConditionalCheckFailed") {
      throw new ConflictError(`REPLAY: agent ${agentId} already used nonce ${nonce?.nonce}`, {
        reason: "REPLAY",
      });
    }
    if (taskCheck?.code === "ConditionalCheckFailed") {
      const { data } = await tasks.get({ task_id: taskId }).go({ consistent: true });
      if (!data) throw new NotFoundError("task", taskId);
      throw new ConflictError(`BIDDING_CLOSED: task ${taskId} is ${data.status}`, {
        reason: "BIDDING_CLOSED",
      });
    }
    if (agentCheck?.code === "ConditionalCheckFailed" && bidWrite?.code !== "ConditionalCheckFailed") {
      throw new ConflictError(`AGENT_DISABLED: agent ${agentId} is kill-switched or suspended`, {
        reason: "AGENT_DISABLED",
      });
    }
    if (bidWrite?.code === "ConditionalCheckFailed") {
      const { data } = await bids.get({ task_id: taskId, agent_id: agentId }).go({ consistent: true });
      if (data) {
        const stored = data.message_sent_at ?? data.sent_at;
        throw new ConflictError(`SUPERSEDED: a newer answer (sent ${stored}) is already stored`, {
          reason: "SUPERSEDED",
        });
      }
      throw new ConflictError(`NOT_INVITED: agent ${agentId} was not invited to ${taskId}`, {
        reason: "NOT_INVITED",
      });
    }
    throw new Error(`Bid transaction cancelled: ${result.data.map((d) => d.code).join(",")}`);
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
      const fresh = await Promise.all(
        agentIds.map(async (agentId) => {
          try {
            await bids
              .create({
                task_id: taskId,
                agent_id: agentId,
                status: "INVITED",
                invited_at: invitedAt,
                delivery_status: "PENDING",
                updated_at: invitedAt,
              })
              .go();
            return agentId;
          } catch (error) {
            if (isConditionalCheckFailed(error)) return undefined;
            throw error;
          }
        }),
      );
      return fresh.filter((id): id is string => id !== undefined);
    },

    async recordDelivery(taskId, agentId, result: DeliveryResult) {
      const update = bids.patch({ task_id: taskId, agent_id: agentId }).set({
        delivery_status: result.ok ? "DELIVERED" : "FAILED",
        delivery_attempts: result.attempts,
        updated_at: now().toISOString(),
        ...(result.ok ? {} : { delivery_error: result.error.slice(0, 512) }),
      });
      await (result.ok ? update.remove(["delivery_error"]) : update).go();
    },

    acceptBid: (taskId, agentId, { nonce, ...bid }) =>
      answer(taskId, agentId, { status: "ACCEPTED", ...bid }, nonce),

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

    closeWithoutBids: (taskId) => transition(taskId, "CLOSING", "NO_BIDS"),

    async closeBidWindow(taskId) {
      await bidWindow.delete({ task_id: taskId }).go();
    },

    async recordNotice(taskId, agentId, notice, status: DeliveryStatus) {
      await bids
        .patch({ task_id: taskId, agent_id: agentId })
        .set({ notice, notice_status: status, updated_at: now().toISOString() })
        .go();
    },
  };
}
