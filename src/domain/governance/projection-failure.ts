import { ConflictError, StoreUnavailableError, ValidationError } from "../errors.js";
import { MalformedChangeError } from "./projection.js";

/**
 * Whether retrying a failed projection can help. `permanent`: the record itself is the problem (data
 * the database or the domain refuses, an unreadable image); it goes to the failure store and the
 * stream moves on. `transient`: the database or the network is; the stream retries from the record.
 */
export type FailureKind = "permanent" | "transient";

export interface FailureClass {
  kind: FailureKind;
  /**
   * Why, in one word: `invalid-data` (SQLSTATE class 22/23, a store refusal), `validation`,
   * `conflict`, `malformed` (permanent); `unavailable`, `retryable`, `unknown` (transient).
   */
  reason: string;
  /** The error's name (`ValidationError`, `error` for a bare driver error...). */
  name: string;
  /** The Postgres SQLSTATE when the database gave one. */
  sqlstate: string | null;
}

/** An adapter's verdict on an error it knows (e.g. the Postgres SQLSTATEs), or undefined. */
export type AdapterErrorClassifier = (
  error: unknown,
) => { kind: FailureKind; sqlstate: string | null } | undefined;

const nameOf = (error: unknown): string =>
  error instanceof Error ? error.name : typeof error === "object" && error !== null ? "object" : typeof error;

/**
 * Classifies an error a projection threw. Pure. Outages (StoreUnavailableError) are transient; the
 * domain's own refusals (ValidationError, ConflictError — an impossible escrow transition included),
 * and unreadable images (MalformedChangeError) are permanent; then the adapters are asked (the
 * Postgres SQLSTATE classes); anything nobody recognises is transient, the safe default: a retried
 * record is delayed, a skipped one would need a replay.
 */
export function classifyProjectionError(
  error: unknown,
  adapters: readonly AdapterErrorClassifier[] = [],
): FailureClass {
  const name = nameOf(error);
  if (error instanceof StoreUnavailableError) {
    return { kind: "transient", reason: "unavailable", name, sqlstate: sqlstateOf(error, adapters) };
  }
  if (error instanceof MalformedChangeError)
    return { kind: "permanent", reason: "malformed", name, sqlstate: null };
  if (error instanceof ValidationError)
    return { kind: "permanent", reason: "validation", name, sqlstate: null };
  if (error instanceof ConflictError) {
    return { kind: "permanent", reason: "conflict", name, sqlstate: sqlstateOf(error, adapters) };
  }
  for (const adapter of adapters) {
    const verdict = adapter(error);
    if (!verdict) continue;
    return {
      kind: verdict.kind,
      reason: verdict.kind === "permanent" ? "invalid-data" : "retryable",
      name,
      sqlstate: verdict.sqlstate,
    };
  }
  return { kind: "transient", reason: "unknown", name, sqlstate: null };
}

function sqlstateOf(error: unknown, adapters: readonly AdapterErrorClassifier[]): string | null {
  const cause = (error as { cause?: unknown }).cause;
  for (const adapter of adapters) {
    const verdict = adapter(cause ?? error);
    if (verdict?.sqlstate) return verdict.sqlstate;
  }
  return null;
}

const CONTROL = /\p{Cc}/gu;

/** An error's message fit for an audit row and a log line: no control characters, at most 500 characters. */
export function errorMessageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const clean = text.replace(CONTROL, "?");
  return clean.length > 500 ? `${clean.slice(0, 497)}...` : clean;
}
