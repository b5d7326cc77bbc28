/**
 * A circuit breaker per agent endpoint, kept in the marketplace table. After `failureThreshold`
 * consecutive failed deliveries (each already retried with backoff) the circuit opens: for the
 * cool-down no send to that endpoint is tried, and each skipped delivery is recorded FAILED with a
 * reason starting `CIRCUIT_OPEN`. After the cool-down one delivery at a time may try it (half-open):
 * its success closes the circuit, its failure opens it for another cool-down.
 *
 * The circuit belongs to the agent (its key is the agent id), not to the URL: another agent that
 * registers the same URL and fails there cannot open this agent's circuit. A changed endpoint starts
 * closed.
 */
export type CircuitAdmission =
  | {
      allowed: true;
      /** This send is the half-open trial. */
      trial: boolean;
      /**
       * No failure was on record when admitted (no item, or CLOSED with a count of 0): a success
       * needs no {@link EndpointCircuit.record}, so a healthy endpoint costs one read per delivery.
       */
      clean: boolean;
    }
  | {
      allowed: false;
      /**
       * `CIRCUIT_OPEN: <n> consecutive failures; retried after <ISO>` during the cool-down, or
       * `CIRCUIT_OPEN: <n> consecutive failures; trial in progress, retried after <ISO>` while another
       * delivery holds the half-open trial (the ISO instant is when its claim runs out).
       */
      reason: string;
    };

export interface CircuitTransition {
  /**
   * What the circuit did because of this result: `opened` also when a failure after the cool-down
   * (the half-open trial's) opened it for another cool-down. Of parallel results, only one reports
   * a given opening or closing.
   */
  change: "opened" | "closed" | "none";
  /** The count after this result (0 after a success). */
  consecutive_failures: number;
}

export interface EndpointCircuit {
  /** Whether a delivery to `endpoint` (the agent's current `bidding_endpoint`) may be tried now. */
  admit(agentId: string, endpoint: string): Promise<CircuitAdmission>;
  /**
   * Records the final result of a delivery that {@link admit} allowed. A success after failures
   * closes the circuit; a failure counts, and opens it at the threshold (or after a failed trial).
   * A success with nothing to reset writes nothing. `error` may hold anything an endpoint answered:
   * it is stored with control characters replaced and cut to 512 characters.
   */
  record(
    agentId: string,
    endpoint: string,
    result: { ok: true } | { ok: false; error: string },
  ): Promise<CircuitTransition>;
}
