import type { CircuitAdmission, CircuitTransition, EndpointCircuit } from "../../ports/endpoint-circuit.js";
import { isConditionalCheckFailed, RetryableConflict, withOptimisticRetry } from "./dynamo-errors.js";
import { CIRCUIT_ERROR_MAX_LENGTH } from "./entities/endpoint-circuit.entity.js";
import type { MarketplaceService } from "./marketplace-service.js";

export interface EndpointCircuitRepositoryOptions {
  service: MarketplaceService;
  /** Consecutive failed deliveries that open the circuit (default 3). */
  failureThreshold?: number;
  /** How long an open circuit refuses deliveries (default 5 minutes). */
  cooldownMs?: number;
  /** How long a half-open trial keeps its claim; past it another delivery may try (default 30 s). */
  trialMs?: number;
  now?: () => Date;
}

/** An `AGENT#<id>` / `CIRCUIT` item as stored (see endpoint-circuit.entity.ts). */
export interface StoredEndpointCircuit {
  agent_id: string;
  endpoint: string;
  state: "CLOSED" | "OPEN";
  consecutive_failures: number;
  opened_at?: string;
  open_until?: string;
  trial_until?: string;
  last_error?: string;
  last_failure_at?: string;
  updated_at: string;
}

const CONTROL_CHARACTER = /\p{Cc}/gu;
/** A UTF-16 surrogate without its other half: not encodable as UTF-8, so DynamoDB refuses it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A delivery error as the item keeps it: every control character (NUL included) replaced by `?`, a
 * lone surrogate by U+FFFD, at most {@link CIRCUIT_ERROR_MAX_LENGTH} characters (a cut one ends in
 * `…`, never inside a surrogate pair). Errors quote what endpoints answered, so they are hostile.
 */
export function circuitErrorText(error: unknown): string {
  const text = (typeof error === "string" ? error : String(error))
    .replace(CONTROL_CHARACTER, "?")
    .replace(LONE_SURROGATE, "\uFFFD");
  if (text.length === 0) return "(no error message)";
  if (text.length <= CIRCUIT_ERROR_MAX_LENGTH) return text;
  let end = CIRCUIT_ERROR_MAX_LENGTH - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** An endpoint as the item names it (and compares it): DynamoDB cannot store a lone surrogate. */
function storable(endpoint: string): string {
  return endpoint.replace(LONE_SURROGATE, "\uFFFD");
}

function positive(value: number, name: string, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`endpoint circuit: ${name} must be a positive ${integer ? "integer" : "number"}`);
  }
  return value;
}

/** What {@link EndpointCircuit.admit} makes of the item it read. */
type Verdict = CircuitAdmission | { claim: StoredEndpointCircuit };

/**
 * The per-agent circuit breaker of deliveries ({@link EndpointCircuit}) on the marketplace table.
 *
 * - `admit` is one eventually consistent `GetItem` while the circuit is closed (or names another
 *   endpoint) or cooling down; once the cool-down is over, one conditional update claims the
 *   half-open trial (`trial_until` unset or past), so of many parallel admits exactly one is the trial.
 *   A lost claim is re-read consistently before it is refused (the circuit may have just closed).
 * - `record` of a success is one consistent `GetItem`, plus one write only when there is something to
 *   reset (failures, or an open circuit): back to CLOSED with 0 failures, conditioned on the item read.
 * - `record` of a failure is one atomic update (`ADD consecutive_failures 1`, the error and its time,
 *   conditioned on the same endpoint), so parallel failures never lose a count; a failure for another
 *   endpoint replaces the item instead (count 1, closed). A second conditional write then opens the
 *   circuit when the count reached the threshold (only one of parallel failures does), or re-opens it
 *   for another cool-down when the failure came after the cool-down (the half-open trial failed).
 */
export function createEndpointCircuitRepository({
  service,
  failureThreshold = 3,
  cooldownMs = 300_000,
  trialMs = 30_000,
  now = () => new Date(),
}: EndpointCircuitRepositoryOptions): EndpointCircuit {
  positive(failureThreshold, "failureThreshold", true);
  positive(cooldownMs, "cooldownMs");
  positive(trialMs, "trialMs");
  const { endpointCircuit } = service.entities;
  const later = (at: Date, ms: number) => new Date(at.getTime() + ms).toISOString();

  async function read(agentId: string, consistent: boolean): Promise<StoredEndpointCircuit | undefined> {
    const { data } = await endpointCircuit.get({ agent_id: agentId }).go({ consistent });
    return data ?? undefined;
  }

  function refusal(item: StoredEndpointCircuit, until: string, trial: boolean): CircuitAdmission {
    const n = item.consecutive_failures;
    const failures = `${n} consecutive failure${n === 1 ? "" : "s"}`;
    return {
      allowed: false,
      reason: `CIRCUIT_OPEN: ${failures}; ${trial ? "trial in progress, " : ""}retried after ${until}`,
    };
  }

  function verdictOf(item: StoredEndpointCircuit | undefined, endpoint: string, at: string): Verdict {
    if (!item || item.endpoint !== endpoint || item.state !== "OPEN") {
      const clean = !item || (item.state === "CLOSED" && item.consecutive_failures === 0);
      return { allowed: true, trial: false, clean };
    }
    // An OPEN item without open_until cannot come from this code; it is treated as cooled down.
    if (item.open_until !== undefined && at < item.open_until) return refusal(item, item.open_until, false);
    if (item.trial_until !== undefined && at < item.trial_until) return refusal(item, item.trial_until, true);
    return { claim: item };
  }

  /** Claims the half-open trial of the open circuit `item` (as read); false when someone else did. */
  async function claimTrial(item: StoredEndpointCircuit, at: string, until: string): Promise<boolean> {
    try {
      await endpointCircuit
        .patch({ agent_id: item.agent_id })
        .set({ trial_until: until, updated_at: at })
        .where(
          (attr, { eq, lte, notExists }) =>
            `${eq(attr.state, "OPEN")} AND ${eq(attr.endpoint, item.endpoint)} AND ${
              item.open_until === undefined
                ? notExists(attr.open_until)
                : eq(attr.open_until, item.open_until)
            } AND (${notExists(attr.trial_until)} OR ${lte(attr.trial_until, at)})`,
        )
        .go({ response: "none" });
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async function recordSuccess(agentId: string, endpoint: string): Promise<CircuitTransition> {
    return withOptimisticRetry(
      `Closing the circuit of agent ${agentId}`,
      async () => {
        const item = await read(agentId, true);
        if (!item || (item.state === "CLOSED" && item.consecutive_failures === 0)) {
          return { change: "none", consecutive_failures: 0 };
        }
        const at = now().toISOString();
        try {
          await endpointCircuit
            .patch({ agent_id: agentId })
            .set({ endpoint, state: "CLOSED", consecutive_failures: 0, updated_at: at })
            .remove(["open_until", "trial_until"])
            .where(
              (attr, { eq }) =>
                `${eq(attr.endpoint, item.endpoint)} AND ${eq(attr.state, item.state)} AND ${eq(
                  attr.consecutive_failures,
                  item.consecutive_failures,
                )}`,
            )
            .go({ response: "none" });
        } catch (error) {
          if (isConditionalCheckFailed(error)) throw new RetryableConflict("circuit changed since read");
          throw error;
        }
        return { change: item.state === "OPEN" ? "closed" : "none", consecutive_failures: 0 };
      },
      { attempts: 10, budgetMs: 5_000 },
    );
  }

  /** Counts one failure atomically; the item as it is after the count. */
  async function countFailure(agentId: string, endpoint: string, error: string, at: string) {
    return withOptimisticRetry(
      `Counting a failed delivery to agent ${agentId}`,
      async (): Promise<StoredEndpointCircuit> => {
        try {
          const { data } = await endpointCircuit
            .upsert({ agent_id: agentId, endpoint, last_error: error, last_failure_at: at, updated_at: at })
            .ifNotExists({ state: "CLOSED" })
            .add({ consecutive_failures: 1 })
            .where(
              (attr, { eq, notExists }) => `${notExists(attr.endpoint)} OR ${eq(attr.endpoint, endpoint)}`,
            )
            .go({ response: "all_new" });
          return data as StoredEndpointCircuit;
        } catch (failure) {
          if (!isConditionalCheckFailed(failure)) throw failure;
        }
        // The item is another endpoint's: this endpoint starts afresh, closed, with this failure.
        const fresh: StoredEndpointCircuit = {
          agent_id: agentId,
          endpoint,
          state: "CLOSED",
          consecutive_failures: 1,
          last_error: error,
          last_failure_at: at,
          updated_at: at,
        };
        try {
          await endpointCircuit
            .put(fresh)
            .where((attr, { eq }) => `NOT ${eq(attr.endpoint, endpoint)}`)
            .go({ response: "none" });
          return fresh;
        } catch (failure) {
          // Someone moved it to this endpoint meanwhile: count on top of theirs.
          if (isConditionalCheckFailed(failure)) throw new RetryableConflict("circuit changed endpoint");
          throw failure;
        }
      },
      { attempts: 10, budgetMs: 5_000 },
    );
  }

  /** One conditional write that (re-)opens the circuit; false when another writer got there first. */
  async function open(
    item: StoredEndpointCircuit,
    at: Date,
    condition: "threshold" | "trial",
  ): Promise<boolean> {
    const iso = at.toISOString();
    try {
      await endpointCircuit
        .patch({ agent_id: item.agent_id })
        .set({ state: "OPEN", opened_at: iso, open_until: later(at, cooldownMs), updated_at: iso })
        .remove(["trial_until"])
        .where((attr, { eq, gte, notExists }) =>
          condition === "threshold"
            ? `${eq(attr.endpoint, item.endpoint)} AND ${eq(attr.state, "CLOSED")} AND ${gte(
                attr.consecutive_failures,
                failureThreshold,
              )}`
            : `${eq(attr.endpoint, item.endpoint)} AND ${eq(attr.state, "OPEN")} AND ${
                item.open_until === undefined
                  ? notExists(attr.open_until)
                  : eq(attr.open_until, item.open_until)
              }`,
        )
        .go({ response: "none" });
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async function recordFailure(agentId: string, endpoint: string, error: string): Promise<CircuitTransition> {
    const at = now();
    const iso = at.toISOString();
    const item = await countFailure(agentId, endpoint, circuitErrorText(error), iso);
    const counted = { consecutive_failures: item.consecutive_failures };
    if (item.state === "CLOSED") {
      if (item.consecutive_failures < failureThreshold) return { change: "none", ...counted };
      return { change: (await open(item, at, "threshold")) ? "opened" : "none", ...counted };
    }
    // Open: a failure during the cool-down was in flight when it opened; one after it is the
    // half-open trial's (or a delivery admitted just before): another cool-down.
    if (item.open_until !== undefined && iso < item.open_until) return { change: "none", ...counted };
    return { change: (await open(item, at, "trial")) ? "opened" : "none", ...counted };
  }

  return {
    async admit(agentId, given) {
      const endpoint = storable(given);
      for (let attempt = 0; attempt < 3; attempt++) {
        const at = now();
        const iso = at.toISOString();
        // The first read may be stale; after a lost claim, read what won.
        const verdict = verdictOf(await read(agentId, attempt > 0), endpoint, iso);
        if (!("claim" in verdict)) return verdict;
        if (await claimTrial(verdict.claim, iso, later(at, trialMs))) {
          return { allowed: true, trial: true, clean: false };
        }
      }
      // Claims kept changing under us: judge the latest state, and refuse rather than race on.
      const verdict = verdictOf(await read(agentId, true), endpoint, now().toISOString());
      return "claim" in verdict ? refusal(verdict.claim, later(now(), trialMs), true) : verdict;
    },

    record(agentId, given, result) {
      const endpoint = storable(given);
      return result.ok ? recordSuccess(agentId, endpoint) : recordFailure(agentId, endpoint, result.error);
    },
  };
}
