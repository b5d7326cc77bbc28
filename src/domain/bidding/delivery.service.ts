import type { AgentRepository } from "../../ports/agent-repository.js";
import type { AwardTrigger } from "../../ports/award-trigger.js";
import type { BiddingRepository } from "../../ports/bidding-repository.js";
import type { EndpointCircuit } from "../../ports/endpoint-circuit.js";
import type { EndpointSender } from "../../ports/endpoint-sender.js";
import type { DeliveryResult } from "./bidding.types.js";
import type { DeliveryJob, DeliveryKind } from "./delivery.js";
import { type BackoffOptions, describeError, withBackoff } from "./retry.js";

/** Attempts per delivery: 3, waits of 50–100 ms then 100–200 ms (see `backoffDelay`). */
export const DEFAULT_DELIVERY_RETRY = { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } as const;

export interface DeliveryLogger {
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
}

export interface DeliveryServiceOptions {
  agents: Pick<AgentRepository, "getSecret" | "getProfiles">;
  bidding: Pick<BiddingRepository, "recordDelivery" | "recordNotice">;
  sender: EndpointSender;
  circuit: EndpointCircuit;
  /** Asked after an invitation is counted unreachable: it may have been the last one awaited. */
  awards: AwardTrigger;
  retry?: Partial<BackoffOptions>;
  now?: () => Date;
  logger?: DeliveryLogger;
}

/** What one delivery did. */
export interface DeliveryOutcome {
  kind: DeliveryKind;
  task_id: string;
  agent_id: string;
  status: "DELIVERED" | "FAILED";
  attempts: number;
  error?: string;
  /** Skipped because the endpoint's circuit is open (then `attempts` is 0). */
  circuit_open: boolean;
  /**
   * The queue should offer the job again later: a notice that did not get through (a bid request
   * is final once tried, since its bid window is short and a failure counts as not answering).
   */
  retry: boolean;
}

export interface DeliveryService {
  deliver(job: DeliveryJob): Promise<DeliveryOutcome>;
}

/**
 * Delivers one job of the delivery queue: one signed message to one agent, so a dead endpoint
 * delays only its own jobs.
 *
 * 1. A bid request whose deadline has passed is not sent (recorded FAILED): nobody could answer it.
 * 2. The endpoint's circuit ({@link EndpointCircuit}) is asked first; while open, nothing is sent and
 *    the delivery is recorded FAILED with the `CIRCUIT_OPEN` reason, at no cost to anyone else.
 * 3. A notice goes to the agent's current endpoint (its profile, read consistently): it may be a
 *    retry, long after it was planned, and the agent may have fixed its endpoint since. A bid request
 *    goes to the endpoint the dispatcher read a moment before.
 * 4. Otherwise the message is signed with the agent's current secret by the sender and sent with
 *    jittered backoff; the final result goes to the circuit (a circuit write that fails is logged,
 *    never fails the delivery: the breaker is advice).
 * 5. The result is recorded: a bid request on the bid item (`recordDelivery`; a first final
 *    failure counts the invitation as not answering, and then the award trigger is asked whether
 *    the task is due), a notice as the bid item's notice status.
 *
 * Throws only for table failures, so the queue retries the job; secrets never leave `sender.send`.
 */
export function createDeliveryService({
  agents,
  bidding,
  sender,
  circuit,
  awards,
  retry = {},
  now = () => new Date(),
  logger,
}: DeliveryServiceOptions): DeliveryService {
  const backoff: BackoffOptions = { ...DEFAULT_DELIVERY_RETRY, ...retry };

  /** Where the job goes now: a notice follows the agent's current profile. */
  async function target(job: DeliveryJob): Promise<DeliveryJob | undefined> {
    if (job.message.type === "BID_REQUEST") return job;
    const profile = (await agents.getProfiles([job.agent_id])).get(job.agent_id);
    if (!profile) return undefined;
    return { ...job, bidding_endpoint: profile.bidding_endpoint, endpoint_kind: profile.endpoint_kind };
  }

  /** `final`: no later try can succeed (no agent, no secret), so a notice is not offered again. */
  async function attempt(
    planned: DeliveryJob,
  ): Promise<{ result: DeliveryResult; circuitOpen: boolean; final?: boolean }> {
    const { message } = planned;
    if (message.type === "BID_REQUEST" && Date.parse(message.deadline) <= now().getTime()) {
      return {
        result: {
          ok: false,
          attempts: 0,
          error: `DEADLINE_PASSED: the bid deadline ${message.deadline} is over`,
        },
        circuitOpen: false,
      };
    }
    const job = await target(planned);
    if (!job) {
      return {
        result: { ok: false, attempts: 0, error: "agent no longer exists" },
        circuitOpen: false,
        final: true,
      };
    }
    const admission = await circuit.admit(job.agent_id, job.bidding_endpoint);
    if (!admission.allowed) {
      return { result: { ok: false, attempts: 0, error: admission.reason }, circuitOpen: true };
    }
    const secret = await agents.getSecret(job.agent_id);
    if (!secret) {
      return {
        result: { ok: false, attempts: 0, error: "agent has no bid-signing secret" },
        circuitOpen: false,
        final: true,
      };
    }
    const endpoint = {
      agent_id: job.agent_id,
      bidding_endpoint: job.bidding_endpoint,
      endpoint_kind: job.endpoint_kind,
    };
    const result = await withBackoff(() => sender.send(endpoint, message, secret), backoff);
    // A success on a circuit with nothing on record changes nothing: no read, no write.
    if (result.ok && admission.clean) return { result, circuitOpen: false };
    try {
      const transition = await circuit.record(
        job.agent_id,
        job.bidding_endpoint,
        result.ok ? { ok: true } : { ok: false, error: result.error },
      );
      if (transition.change !== "none") {
        logger?.warn(`Endpoint circuit ${transition.change}`, {
          agent_id: job.agent_id,
          consecutive_failures: transition.consecutive_failures,
        });
      }
    } catch (error) {
      logger?.warn("Endpoint circuit not updated", { agent_id: job.agent_id, error: describeError(error) });
    }
    return { result, circuitOpen: false };
  }

  return {
    async deliver(job) {
      const { result, circuitOpen, final = false } = await attempt(job);
      const { message } = job;
      if (message.type === "BID_REQUEST") {
        const counted = await bidding.recordDelivery(job.task_id, job.agent_id, result);
        // This invitation now counts as not answering: it may have been the last one awaited.
        if (counted) await awards.awardIfDue(job.task_id);
      } else {
        await bidding.recordNotice(
          job.task_id,
          job.agent_id,
          message.type,
          result.ok ? "DELIVERED" : "FAILED",
        );
      }
      const outcome: DeliveryOutcome = {
        kind: message.type,
        task_id: job.task_id,
        agent_id: job.agent_id,
        status: result.ok ? "DELIVERED" : "FAILED",
        attempts: result.attempts,
        ...(result.ok ? {} : { error: result.error }),
        circuit_open: circuitOpen,
        retry: !result.ok && !final && message.type !== "BID_REQUEST",
      };
      const keys = {
        kind: outcome.kind,
        task_id: job.task_id,
        agent_id: job.agent_id,
        attempts: outcome.attempts,
      };
      if (result.ok) logger?.info("Delivered", keys);
      else logger?.warn("Not delivered", { ...keys, error: result.error, circuit_open: circuitOpen });
      return outcome;
    },
  };
}
