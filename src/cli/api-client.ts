import { STATUS_CODES } from "node:http";
import { ApiError, CliError } from "./errors.js";
import type { Credentials, Target } from "./target.js";
import { WEBHOOK_PATH } from "./webhook-delivery.js";

/** A successful answer: its status and parsed JSON body. */
export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
}

export type Query = Readonly<Record<string, string | undefined>>;

/** `/tasks/https%3A%2F%2Fgithub.com%2Fo%2Fr%2Fissues%2F7/ledger`: every segment percent-encoded. */
export function apiPath(...segments: readonly string[]): string {
  return `/${segments.map(encodeURIComponent).join("/")}`;
}

/** `path` (and the defined query parameters) under the base URL, which may end with a slash or carry a base path. */
export function apiUrl(base: string, path: string, query: Query = {}): string {
  const search = new URLSearchParams(
    Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined),
  ).toString();
  return `${base.replace(/\/+$/, "")}${path}${search ? `?${search}` : ""}`;
}

/**
 * The error an answer carries: the API's `{ "error": { "code", "message" } }`, else API Gateway's own
 * `{ "message" }` (authorizer denials, throttling, integration failures), else the status text.
 *
 * `refusedHint` says which credentials were sent. It is added to a 401, and to a 403 that is not the
 * API's own: API Gateway's authorizer refuses an unknown token with a bare 403. The API's own
 * `403 FORBIDDEN` is a permission the caller lacks, and its message names it.
 */
export function apiErrorOf(status: number, text: string, refusedHint?: string): ApiError {
  const body = parseJson(text) as { error?: { code?: unknown; message?: unknown }; message?: unknown };
  const statusText = STATUS_CODES[status] ?? "HTTP error";
  const { code, message } = body?.error ?? {};
  const fromApi = typeof code === "string" && typeof message === "string";
  const hint = status === 401 || (status === 403 && !fromApi) ? refusedHint : undefined;
  if (fromApi) return new ApiError(status, code, message, hint);
  const fallbackCode = statusText.toUpperCase().replace(/[^A-Z0-9]+/g, "_");
  const fallbackMessage =
    typeof body?.message === "string"
      ? body.message
      : text.trim().split("\n")[0]?.slice(0, 200) || statusText;
  return new ApiError(status, fallbackCode, fallbackMessage, hint);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One line saying why the request never got an answer. */
export function unreachableMessage(
  target: Pick<Target, "apiUrl" | "local">,
  error: unknown,
  timeoutMs: number,
): string {
  if ((error as Error).name === "TimeoutError") {
    return `no answer from ${target.apiUrl} within ${timeoutMs / 1000} s`;
  }
  // fetch fails with "fetch failed"; what happened is its cause (an AggregateError when several addresses were tried).
  const cause = (
    error as { cause?: { code?: unknown; message?: unknown; errors?: Array<{ code?: unknown }> } }
  ).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  if (target.local && code === "ECONNREFUSED") {
    return `no local stack answers at ${target.apiUrl}: start it with \`npm start\``;
  }
  const reason =
    typeof code === "string" ? code : typeof cause?.message === "string" ? cause.message : undefined;
  return `cannot reach ${target.apiUrl}: ${reason ?? (error as Error).message}`;
}

export interface ApiClientOptions {
  target: Pick<Target, "apiUrl" | "local" | "credentials">;
  fetch?: typeof globalThis.fetch;
  /** Per request; the API answers in well under a second, a Lambda cold start in a few. */
  timeoutMs?: number;
}

export interface RequestOptions {
  query?: Query;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/** A JSON request body with its content type (and any other headers). */
export const jsonBody = (value: unknown, headers: Record<string, string> = {}): RequestOptions => ({
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(value),
});

/** The HTTP client of the REST API (the target's bearer token) and the webhook receiver (signed, no token). */
export interface ApiClient {
  get<T>(path: string, query?: Query): Promise<ApiAnswer<T>>;
  post<T>(path: string, options?: RequestOptions): Promise<ApiAnswer<T>>;
  /** `POST /webhooks/github` with a delivery the caller has signed (no bearer token: the receiver checks the signature). */
  webhook<T>(options: RequestOptions): Promise<ApiAnswer<T>>;
}

/** What a refused request sent: `the operator token from AGENTFORGE_API_TOKEN was refused`. */
function refusedHint({ kind, from }: Credentials): string {
  return kind === "agent"
    ? `the agent key from ${from} was refused: unknown, or rotated out and past its overlap`
    : `the operator token from ${from} was refused`;
}

/**
 * Sends requests to the target's API. A 4xx/5xx answer throws an {@link ApiError}; no answer at all
 * throws a {@link CliError} saying why (for the local stack: that it is not running).
 */
export function createApiClient({
  target,
  fetch = globalThis.fetch,
  timeoutMs = 30_000,
}: ApiClientOptions): ApiClient {
  async function send<T>(
    method: string,
    path: string,
    options: RequestOptions,
    withToken: boolean,
  ): Promise<ApiAnswer<T>> {
    const url = apiUrl(target.apiUrl, path, options.query);
    const headers = {
      accept: "application/json",
      ...options.headers,
      ...(withToken ? { authorization: `Bearer ${await target.credentials.token()}` } : {}),
    };
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, {
        method,
        headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      throw new CliError(unreachableMessage(target, error, timeoutMs));
    }
    if (status >= 400) {
      throw apiErrorOf(status, text, withToken ? refusedHint(target.credentials) : undefined);
    }
    const body = parseJson(text);
    if (body === undefined) throw new CliError(`${method} ${path} answered ${status} without a JSON body`);
    return { status, body: body as T };
  }

  return {
    get: (path, query) => send("GET", path, query ? { query } : {}, true),
    post: (path, options = {}) => send("POST", path, options, true),
    webhook: (options) => send("POST", WEBHOOK_PATH, options, false),
  };
}
