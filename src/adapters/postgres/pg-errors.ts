import { StoreUnavailableError } from "../../domain/errors.js";
import { SQLSTATE_APPEND_ONLY, SQLSTATE_ILLEGAL_TRANSITION } from "./migrations.js";
import { sqlState } from "./sql-client.js";

/**
 * SQLSTATEs that say the server is unreachable, overloaded or gave up waiting, not that the
 * statement is wrong: statement timeout (57014, which also covers a cancel), lock timeout (55P03),
 * shutdowns (57P01-57P03), too many connections (53300) and the connection-exception class (08).
 */
const UNAVAILABLE_STATES = new Set(["57014", "55P03", "57P01", "57P02", "57P03", "53300"]);

/** Socket errors of a host that is down, unreachable or cut off. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * What `pg` and `pg-pool` throw (as plain `Error`s, no code) when a connection times out, is cut
 * or was already broken. Matched at the start of the message, which these libraries own.
 */
const PG_MESSAGES = [
  "timeout exceeded when trying to connect",
  "Connection terminated",
  "Query read timeout",
  "Client has encountered a connection error and is not queryable",
  "timeout expired",
];

/**
 * Whether `error` (or an error it wraps as `cause`) means Postgres could not be reached or did not
 * answer in time. A syntax error, a constraint violation or a bug in our code is not.
 */
export function isPgUnavailableError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== "object") return false;
    const state = sqlState(current);
    if (state) return UNAVAILABLE_STATES.has(state) || state.startsWith("08");
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    const message = (current as { message?: unknown }).message;
    if (typeof message === "string" && PG_MESSAGES.some((known) => message.startsWith(known))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** `error` as a {@link StoreUnavailableError} when it is of the unavailable kind, else unchanged. */
export function classifyPgError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError || !isPgUnavailableError(error)) return error;
  // The driver's own words stay in the message: what an operator greps the logs for.
  const detail = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError("postgres", `Postgres is unavailable: ${detail}`, { cause: error });
}

/** Serialization failure and deadlock: the transaction lost a race and may simply be run again. */
const RETRY_STATES = new Set(["40001", "40P01"]);
/** The store's own refusals: an escrow move outside the state machine, a change to the audit log. */
const REFUSAL_STATES = new Set([SQLSTATE_ILLEGAL_TRANSITION, SQLSTATE_APPEND_ONLY]);

/**
 * Whether a Postgres failure is worth retrying, for workers that must tell a bad row from an outage:
 * `permanent` for data the database refuses however often it is sent (class 22 data exceptions such
 * as a numeric overflow, class 23 integrity violations, the store's AF00x refusals), `transient` for
 * outages and lost races (see {@link isPgUnavailableError}, class 53, 40001, 40P01). Undefined when
 * `error` (or an error it wraps as `cause`) carries no SQLSTATE or network code: not a Postgres
 * verdict, so the caller decides.
 */
export function pgFailureClass(
  error: unknown,
): { kind: "permanent" | "transient"; sqlstate: string | null } | undefined {
  if (isPgUnavailableError(error)) return { kind: "transient", sqlstate: firstSqlState(error) ?? null };
  const state = firstSqlState(error);
  if (!state) return undefined;
  if (RETRY_STATES.has(state) || state.startsWith("53") || state.startsWith("57")) {
    return { kind: "transient", sqlstate: state };
  }
  if (state.startsWith("22") || state.startsWith("23") || REFUSAL_STATES.has(state)) {
    return { kind: "permanent", sqlstate: state };
  }
  return undefined;
}

/** The SQLSTATE of `error` or of the first error it wraps (`cause`) that has one. */
export function firstSqlState(error: unknown): string | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== "object") return undefined;
    const state = sqlState(current);
    if (state) return state;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
