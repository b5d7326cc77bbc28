import { BID_STATUSES, DELIVERY_STATUSES } from "../../../domain/bidding/bidding.types.js";
import { OUTCOME_STATUSES } from "../../../domain/ledger/ledger.schema.js";
import { TASK_STATUSES } from "../../../domain/tasks/task.schema.js";
import { TABLE } from "../table-definition.js";
import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

const openIndex = TABLE.globalIndexes.openTasksByDeadline;

/**
 * Every item of a task shares `TASK#<issue url>`, so one Query returns the whole task. Rejection
 * records are the exception: anyone allowed to send to the bids queue can add them, so they live in
 * a partition of their own (`REJECTIONS#<issue url>`) and never weigh on reading the task.
 */
const taskPk = { field: "PK", composite: ["task_id"], template: "TASK#${task_id}", casing: "none" } as const;

/** `TASK#<issue url>` / `TASK`. */
export const taskSchema = {
  model: { entity: "task", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["TASK"] as const, required: true, default: "TASK", readOnly: true },
    task_id: { type: "string", required: true, readOnly: true },
    title: { type: "string", required: true },
    status: { type: TASK_STATUSES, required: true },
    required_capabilities: { type: "set", items: "string", required: true },
    budget: { type: "number" },
    bid_deadline: { type: "string" },
    repository_id: { type: "number" },
    issue_node_id: { type: "string" },
    /** `completion_timestamp` of the ledger entry that currently stands for this task. */
    latest_outcome_at: { type: "string" },
    latest_outcome_status: { type: OUTCOME_STATUSES },
    latest_outcome_quality: { type: "number" },
    /** GitHub facts about the issue (see domain/tasks/evidence.ts); outcomes are derived from it. */
    evidence: { type: "any" },
    /** Agents whose award a reviewer rejected; the award skips them. */
    approval_excluded_agents: { type: "set", items: "string" },
    /**
     * Bid items created for the task (INVITED), and how many of them hold a first answer (ACCEPTED
     * or DECLINED). Each moves in the same transaction as the bid item it counts, so "every invited
     * agent answered" is one read of this item (see the early award), never a read of the bid set.
     */
    invited_count: { type: "number" },
    answered_count: { type: "number" },
    /**
     * Invitations whose bid request finally failed to deliver (every attempt used, or the endpoint's
     * circuit open) before the agent answered: they count as not answering, so the early award does
     * not wait for them. Each invitation counts once, in `answered_count` or here, never in both.
     */
    unreachable_count: { type: "number" },
    /** Optimistic-concurrency counter for evidence updates. */
    version: { type: "number", required: true, default: 1 },
    created_at: { type: "string", required: true, readOnly: true },
    updated_at: { type: "string", required: true },
  },
  indexes: {
    primary: {
      collection: "taskRecord",
      pk: taskPk,
      sk: { field: "SK", composite: [], template: "TASK", casing: "none" },
    },
  },
} as const;

/**
 * `TASK#<issue url>` / `BID_WINDOW`: exists while the task is OPEN or CLOSING (the transactions that
 * leave those states delete it; a rejected approval, back to CLOSING, puts it back). It is the task's
 * entry in GSI3, `OPEN_TASK#<shard>` / `<deadline>#<url>` with `shard` = `bidWindowShard(task_id)`, so
 * "open tasks past their deadline" is one Query per shard (see `bid-window-shard.ts`).
 */
export const bidWindowSchema = {
  model: { entity: "bid_window", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["BID_WINDOW"] as const, required: true, default: "BID_WINDOW", readOnly: true },
    task_id: { type: "string", required: true, readOnly: true },
    bid_deadline: { type: "string", required: true, readOnly: true },
    /** GSI3 shard, always `bidWindowShard(task_id)`. */
    shard: { type: "number", required: true, readOnly: true },
  },
  indexes: {
    primary: {
      collection: "taskRecord",
      pk: taskPk,
      sk: { field: "SK", composite: [], template: "BID_WINDOW", casing: "none" },
    },
    byDeadline: {
      index: openIndex.indexName,
      pk: {
        field: openIndex.partitionKey,
        composite: ["shard"],
        template: "OPEN_TASK#${shard}",
        casing: "none",
      },
      sk: {
        field: openIndex.sortKey,
        composite: ["bid_deadline", "task_id"],
        template: "${bid_deadline}#${task_id}",
        casing: "none",
      },
    },
  },
} as const;

/**
 * `TASK#<issue url>` / `BID#<agent_id>`: one per invited agent per task. Created INVITED when the bid
 * request is sent (with its delivery result), then holds the agent's latest valid answer: a newer
 * valid bid replaces the older one in place. After the award it records the notice sent.
 */
export const bidSchema = {
  model: { entity: "bid", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["BID"] as const, required: true, default: "BID", readOnly: true },
    task_id: { type: "string", required: true, readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    status: { type: BID_STATUSES, required: true },
    invited_at: { type: "string", required: true },
    delivery_status: { type: DELIVERY_STATUSES, required: true },
    delivery_attempts: { type: "number" },
    delivery_error: { type: "string" },
    /**
     * Set once, when the bid request finally failed before any answer: the invitation then counts in
     * the task's `unreachable_count`. A later first answer moves it to `answered_count`.
     */
    counted_unreachable: { type: "boolean" },
    bid_amount: { type: "number" },
    estimated_completion_sec: { type: "number" },
    answered_at: { type: "string" },
    /** When the queue accepted the answer's message: judged against the deadline (LATE). */
    sent_at: { type: "string" },
    /** The answer's own signed `sent_at` (protocol v2): orders the agent's answers, newest wins. */
    message_sent_at: { type: "string" },
    notice: { type: ["AWARD", "REJECTION"] as const },
    notice_status: { type: DELIVERY_STATUSES },
    updated_at: { type: "string", required: true },
  },
  indexes: {
    primary: {
      collection: "taskRecord",
      pk: taskPk,
      sk: { field: "SK", composite: ["agent_id"], template: "BID#${agent_id}", casing: "none" },
    },
  },
} as const;

/**
 * `REJECTIONS#<issue url>` / `REJECTION#<received_at>#<message id>`: a refused signed agent message
 * (late, over budget, uninvited, malformed...), with its reason, visible on the task. Expires with
 * TTL. Its own partition per task, outside the task record's collection: one Query reads the task
 * record however many rejections agents cause, and rejections are read newest first, capped.
 */
export const bidRejectionSchema = {
  model: { entity: "bid_rejection", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["BID_REJECTION"] as const, required: true, default: "BID_REJECTION", readOnly: true },
    task_id: { type: "string", required: true, readOnly: true },
    received_at: { type: "string", required: true, readOnly: true },
    message_id: { type: "string", required: true, readOnly: true },
    /** As claimed by the message; not trusted. */
    agent_id: { type: "string" },
    message_type: { type: "string" },
    reason: { type: "string", required: true },
    [TABLE.ttlAttribute]: { type: "number", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["task_id"], template: "REJECTIONS#${task_id}", casing: "none" },
      sk: {
        field: "SK",
        composite: ["received_at", "message_id"],
        template: "REJECTION#${received_at}#${message_id}",
        casing: "none",
      },
    },
  },
} as const;

/** `TASK#<issue url>` / `AWARD`: exactly one per task, written with a condition. */
export const awardSchema = {
  model: { entity: "award", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["AWARD"] as const, required: true, default: "AWARD", readOnly: true },
    task_id: { type: "string", required: true, readOnly: true },
    agent_id: { type: "string", required: true },
    bid_amount: { type: "number", required: true },
    estimated_completion_sec: { type: "number" },
    status: { type: ["PENDING_APPROVAL", "AWARDED"] as const, required: true },
    awarded_at: { type: "string", required: true },
    /** From the winner's COST_REPORT; the ledger falls back to `bid_amount` without one. */
    actual_cost: { type: "number" },
    /** The signed `sent_at` of the COST_REPORT behind `actual_cost`: an older report never overwrites it. */
    cost_sent_at: { type: "string" },
    approval_reason: { type: "string" },
    worker_wallet: { type: "string" },
  },
  indexes: {
    primary: {
      collection: "taskRecord",
      pk: taskPk,
      sk: { field: "SK", composite: [], template: "AWARD", casing: "none" },
    },
  },
} as const;
