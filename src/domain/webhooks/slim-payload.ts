import { CLOSING_REFS_SCAN_LIMIT } from "./closing-refs.js";

/**
 * How the projection treats one field: `leaf` keeps the value, `text` keeps a string's first
 * {@link CLOSING_REFS_SCAN_LIMIT} code units, a nested {@link Shape} keeps those fields of an object, and
 * a one-element array keeps those fields of every object in an array.
 */
type Field = "leaf" | "text" | Shape | readonly [Shape];
interface Shape {
  readonly [key: string]: Field;
}

const app = { id: "leaf", slug: "leaf" } as const satisfies Shape;
const account = { id: "leaf", login: "leaf" } as const satisfies Shape;
/** A check's pull requests: the number, and the base repository's id (is it this repository's?). */
const prStubs = [{ number: "leaf", base: { repo: { id: "leaf" } } }] as const satisfies Field;

/**
 * Every payload field the intake worker reads (`interpret.ts`), whatever the event. One shape serves all
 * events: the worker only reads a top-level object under its own event, and an object that an event
 * does not carry is simply absent. A field the worker starts reading must be added here, or the worker
 * will never see it.
 */
export const WORKER_PAYLOAD_SHAPE = {
  action: "leaf",
  issue: {
    html_url: "leaf",
    node_id: "leaf",
    number: "leaf",
    title: "leaf",
    state: "leaf",
    state_reason: "leaf",
    labels: [{ name: "leaf" }],
    closed_at: "leaf",
    updated_at: "leaf",
  },
  label: { name: "leaf" },
  repository: { id: "leaf", full_name: "leaf" },
  pull_request: {
    html_url: "leaf",
    number: "leaf",
    body: "text",
    merged: "leaf",
    merged_at: "leaf",
    closed_at: "leaf",
    user: account,
  },
  review: { id: "leaf", state: "leaf", user: account, author_association: "leaf", submitted_at: "leaf" },
  check_suite: {
    id: "leaf",
    conclusion: "leaf",
    updated_at: "leaf",
    head_sha: "leaf",
    app,
    pull_requests: prStubs,
  },
  check_run: {
    id: "leaf",
    name: "leaf",
    conclusion: "leaf",
    completed_at: "leaf",
    head_sha: "leaf",
    check_suite: { id: "leaf" },
    app,
    pull_requests: prStubs,
  },
  sender: { login: "leaf" },
} as const satisfies Shape;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A value that is not what its field expects, reduced without changing how the worker judges it: a
 * scalar is kept as is (the worker accepts or rejects it exactly as before), and an object or array is
 * emptied, since no schema that expects a scalar, or an object where there is an array (or the reverse),
 * accepts it whatever it contains.
 */
function mismatched(value: unknown): unknown {
  if (Array.isArray(value)) return [];
  if (isRecord(value)) return {};
  return value;
}

/** The first `limit` code units of `text`, without splitting a surrogate pair. */
function truncate(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const code = text.charCodeAt(limit - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? limit - 1 : limit);
}

function project(value: unknown, field: Field): unknown {
  if (field === "leaf") return isRecord(value) || Array.isArray(value) ? mismatched(value) : value;
  if (field === "text") {
    return typeof value === "string" ? truncate(value, CLOSING_REFS_SCAN_LIMIT) : mismatched(value);
  }
  if (Array.isArray(field)) {
    const [element] = field as readonly [Shape];
    return Array.isArray(value) ? value.map((item) => project(item, element)) : mismatched(value);
  }
  return isRecord(value) ? projectShape(value, field as Shape) : mismatched(value);
}

function projectShape(source: Record<string, unknown>, shape: Shape): Record<string, unknown> {
  const slim: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(shape)) {
    if (Object.hasOwn(source, key)) slim[key] = project(source[key], field);
  }
  return slim;
}

/**
 * The part of a verified GitHub payload the intake worker reads ({@link WORKER_PAYLOAD_SHAPE}), so the
 * queued message stays a few kilobytes (plus the pull request body, when there is one) whatever else
 * the issue, pull request, repository and user objects carry. Pure and total: it never throws and never
 * mutates `payload`.
 *
 * Fields that are present are kept, absent ones stay absent, and a field of an unexpected type keeps
 * its type (scalars as they are, objects and arrays emptied), so the worker accepts, ignores or rejects
 * the slim payload exactly as it would the full one. `pull_request.body` keeps its first
 * {@link CLOSING_REFS_SCAN_LIMIT} code units, all the worker searches for closing references.
 *
 * @param _event the `X-GitHub-Event` name. Every event is projected with the same shape today; it is
 * here so that an event whose worker needs differ can be given its own shape without changing callers.
 */
export function slimPayload(_event: string, payload: Record<string, unknown>): Record<string, unknown> {
  return projectShape(payload, WORKER_PAYLOAD_SHAPE);
}
