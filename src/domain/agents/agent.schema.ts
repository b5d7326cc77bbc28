import * as z from "zod";
import { agentIdSchema, plainTextSchema } from "../common.schema.js";

export const COST_MODELS = ["green", "yellow", "orange"] as const;
export type CostModel = (typeof COST_MODELS)[number];

export const AGENT_STATUSES = ["active", "suspended"] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/**
 * Upper bound on capabilities per agent. Changing an agent rewrites, in one transaction of at most
 * 100 items, its profile, every current edge, the edges it drops and the listed counts of old and
 * new capabilities: 1 + 24 + 24 + 48 = 97.
 */
export const MAX_CAPABILITIES = 24;

export const capabilitySchema = z
  .string({ error: "must be a string" })
  .regex(
    /^[a-z0-9][a-z0-9+._-]{0,63}$/,
    "must be a lowercase token (a-z, 0-9, '+', '.', '_', '-'), at most 64 characters",
  );

export const capabilitiesSchema = z
  .array(capabilitySchema, { error: "must be an array of capability names" })
  .min(1, "must name at least one capability")
  .max(MAX_CAPABILITIES, `must name at most ${MAX_CAPABILITIES} capabilities`)
  .transform((list) => [...new Set(list)].sort());

const SQS_QUEUE_URL =
  /^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/\d{12}\/[A-Za-z0-9_-]{1,80}(\.fifo)?$/;
const LOCAL_QUEUE_URL =
  /^http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\/\d{12}\/[A-Za-z0-9_-]{1,80}(\.fifo)?$/;

export type EndpointKind = "sqs" | "https";

export interface BiddingEndpointPolicy {
  /** Local mode: accept the SQS emulator's loopback queue URLs, and plain-http loopback servers as HTTPS agents. */
  allowLoopback: boolean;
  /** AWS accounts whose queues may not be registered (the marketplace's own). */
  forbiddenAccountIds?: readonly string[];
}

/** Classifies a bidding endpoint, or returns an error message when it is not acceptable. */
const isLoopbackHost = (host: string) => host === "localhost" || /^127\.\d+\.\d+\.\d+$/.test(host);

export function classifyBiddingEndpoint(
  value: string,
  policy: BiddingEndpointPolicy,
): { kind: EndpointKind } | { error: string } {
  if (SQS_QUEUE_URL.test(value)) {
    const account = /amazonaws\.com(?:\.cn)?\/(\d{12})\//.exec(value)?.[1];
    if (account && policy.forbiddenAccountIds?.includes(account)) {
      return { error: "must be a queue in the agent's own account, not the marketplace's" };
    }
    return { kind: "sqs" };
  }
  if (policy.allowLoopback && LOCAL_QUEUE_URL.test(value)) return { kind: "sqs" };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { error: "must be an SQS queue URL or an https URL" };
  }
  // Local mode: a plain-http loopback server stands in for an agent's HTTPS endpoint.
  const loopbackHttp = policy.allowLoopback && url.protocol === "http:" && isLoopbackHost(url.hostname);
  if (url.protocol !== "https:" && !loopbackHttp)
    return { error: "must be an SQS queue URL or an https URL" };
  if (url.username || url.password) return { error: "must not carry credentials" };
  return { kind: "https" };
}

export function agentRegistrationSchema(policy: BiddingEndpointPolicy) {
  return z
    .strictObject({
      agent_id: agentIdSchema,
      capabilities: capabilitiesSchema,
      cost_model: z.enum(COST_MODELS, { error: `must be one of ${COST_MODELS.join(", ")}` }),
      // Refused here, before `new URL` (which drops tabs and newlines and percent-encodes a NUL).
      bidding_endpoint: plainTextSchema.max(2048, "must be at most 2048 characters"),
      /** Where escrow pays out. Omitted: unchanged. */
      wallet_address: z
        .string({ error: "must be a string" })
        .regex(/^[A-Za-z0-9:._-]{1,128}$/, "must be 1-128 characters of A-Z, a-z, 0-9, ':', '.', '_', '-'")
        .optional(),
      /** Omitted: "active" for a new agent, unchanged for an existing one. */
      status: z.enum(AGENT_STATUSES, { error: `must be one of ${AGENT_STATUSES.join(", ")}` }).optional(),
    })
    .transform((registration, ctx) => {
      const result = classifyBiddingEndpoint(registration.bidding_endpoint, policy);
      if ("error" in result) {
        ctx.addIssue({ code: "custom", path: ["bidding_endpoint"], message: result.error });
        return z.NEVER;
      }
      return { ...registration, endpoint_kind: result.kind };
    });
}

/** Validated input for registering or updating an agent. */
export type AgentRegistration = z.output<ReturnType<typeof agentRegistrationSchema>>;
