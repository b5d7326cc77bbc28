import type { EndpointKind } from "../agents/agent.schema.js";
import type { MarketplaceMessage } from "./messages.js";

/**
 * One message to one agent, as it waits on the delivery queue: the unsigned marketplace message and
 * the endpoint it goes to, both as the planner read them (the profile with a consistent read, just
 * before). The delivery worker signs it with the agent's current secret and sends it. Only the
 * dispatch worker may send to the delivery queue, so the job is trusted; it is still checked, since a
 * malformed job must be dropped with a reason rather than retried forever.
 */
export interface DeliveryJob {
  task_id: string;
  agent_id: string;
  bidding_endpoint: string;
  endpoint_kind: EndpointKind;
  message: MarketplaceMessage;
}

/** The job's kind, as metrics and logs name it. */
export type DeliveryKind = MarketplaceMessage["type"];

const MESSAGE_TYPES: ReadonlySet<string> = new Set(["BID_REQUEST", "AWARD", "REJECTION"]);
const ENDPOINT_KINDS: ReadonlySet<string> = new Set(["sqs", "https"]);
/** Longest string field of a job (task URLs and endpoints are far shorter). */
const MAX_FIELD = 2048;

function text(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_FIELD;
}

/**
 * Reads a delivery queue body: the job, or why it is not one. Hand-written rather than a schema, so
 * the worker (a hot path) carries no schema library. The message must name the job's own task and
 * agent: a job can never send one agent's message to another.
 */
export function parseDeliveryJob(body: string): DeliveryJob | string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return "body is not JSON";
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "body is not an object";
  const job = json as Record<string, unknown>;
  for (const field of ["task_id", "agent_id", "bidding_endpoint"] as const) {
    if (!text(job[field])) return `${field}: must be a non-empty string of at most ${MAX_FIELD} characters`;
  }
  if (!ENDPOINT_KINDS.has(job.endpoint_kind as string)) return 'endpoint_kind: must be "sqs" or "https"';
  const message = job.message as Record<string, unknown> | null;
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    return "message: must be an object";
  }
  if (!MESSAGE_TYPES.has(message.type as string))
    return "message.type: must be BID_REQUEST, AWARD or REJECTION";
  if (message.task_id !== job.task_id) return "message.task_id: must be the job's task_id";
  if (message.agent_id !== job.agent_id) return "message.agent_id: must be the job's agent_id";
  return job as unknown as DeliveryJob;
}

/** Puts delivery jobs on the delivery queue, in batches; throws when any could not be enqueued. */
export interface DeliveryQueue {
  enqueue(jobs: readonly DeliveryJob[]): Promise<void>;
}
