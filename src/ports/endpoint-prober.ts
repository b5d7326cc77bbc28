import type { AgentEndpoint } from "./endpoint-sender.js";

/** The outcome of one reachability check of an agent's bidding endpoint. */
export interface ProbeResult {
  /** The endpoint answered in time with an answer that counts as "up" (the adapter documents which). */
  ok: boolean;
  /** Wall-clock time of the check, whole milliseconds, >= 0 (up to the timeout for a timed-out check). */
  latency_ms: number;
  /** The HTTP status of the answer, when there was one. */
  status_code?: number;
  /** Why the check failed, in a few words: an error name, a status, a host. Never a path, query or secret. */
  error?: string;
}

/**
 * Checks whether an agent's bidding endpoint is reachable, without delivering anything to it. Used by
 * the scheduled health job; its results feed health metrics and the probe score.
 *
 * `probe` never throws for an endpoint that is unreachable, refused or malformed: that is a result
 * with `ok: false`.
 */
export interface EndpointProber {
  probe(endpoint: AgentEndpoint): Promise<ProbeResult>;
}
