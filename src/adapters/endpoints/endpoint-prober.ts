import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { classifyBiddingEndpoint } from "../../domain/agents/agent.schema.js";
import type { EndpointProber, ProbeResult } from "../../ports/endpoint-prober.js";
import { createSqsClient } from "../sqs/client.js";
import { DEFAULT_HTTPS_TIMEOUT_MS, requestStatus } from "./https-endpoint-sender.js";
import { createQueueClientResolver } from "./sqs-endpoint-sender.js";
import { checkEndpointUrl, type EndpointPolicy, type Resolver } from "./ssrf.js";

export interface EndpointProberOptions extends EndpointPolicy {
  /** Budget for one probe, whole exchange included; default 3 s (the HTTPS sender's). */
  timeoutMs?: number;
  /**
   * Client for queue URLs that name no AWS region: the local emulator's loopback URLs (pass the
   * emulator client in local mode). Default: `createSqsClient()`, built on first use.
   */
  sqsClient?: SQSClient;
  /**
   * Client for queues in `region` (requests are signed for the client's region), built once per
   * region. Default: `createSqsClient({ region })`. Locally, `() => emulatorClient` keeps every queue
   * on the emulator.
   */
  sqsClientFor?: (region: string) => SQSClient;
  /** Monotonic clock in milliseconds for `latency_ms`; `performance.now()` by default. */
  now?: () => number;
  /** Host name resolution for HTTPS endpoints; the system resolver by default (tests inject one). */
  resolve?: Resolver;
}

type Outcome = Omit<ProbeResult, "latency_ms">;

/** Answers that mean "not taking work right now" even though the endpoint answered. */
const DOWN_STATUSES = new Set([408, 429]);

/**
 * Whether an HTTP answer to the probe's GET counts as "up": 2xx, 3xx and 4xx except 408 and 429.
 * The probe asks "does the endpoint answer?", not "does it accept a GET": many bidding endpoints
 * only take POST and answer 405, or want a signature and answer 401/403, and are healthy. 408
 * (request timeout), 429 (rate limited) and 5xx say the endpoint cannot take work now. A 3xx is up
 * too (the server answered), but its target is never fetched.
 */
export function isUpStatus(status: number): boolean {
  return status >= 200 && status < 500 && !DOWN_STATUSES.has(status);
}

/** Any URL inside `text` cut down to its origin: paths and queries may hold tokens. */
function withoutUrlPaths(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]*/gi, (match) => {
    try {
      return new URL(match).origin;
    } catch {
      return "<url>";
    }
  });
}

const MAX_ERROR_LENGTH = 200;

/** A short, URL-path-free description of a failure: `Name: message`, or the message of a plain Error. */
function describe(error: unknown): string {
  const { name, message } =
    error instanceof Error
      ? error
      : { name: "Error", message: typeof error === "string" ? error : "unknown" };
  const text = withoutUrlPaths(name && name !== "Error" ? `${name}: ${message}` : message);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 1)}…` : text;
}

function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === "number" ? status : undefined;
}

function hostOf(value: string): string {
  try {
    return new URL(value).host;
  } catch {
    return "?";
  }
}

/**
 * Runs `run` with an abort signal that fires after `timeoutMs`, and settles no later than that
 * whether or not `run` honours the signal (the SDK may be between retries when it fires).
 */
async function withTimeout<T>(
  timeoutMs: number,
  host: string,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new Error(`timed out after ${timeoutMs} ms (${host})`);
      reject(error);
      controller.abort(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([run(controller.signal), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Probes agents' bidding endpoints for the scheduled health job, without delivering anything.
 *
 * - **SQS** (`endpoint_kind: "sqs"`): `GetQueueAttributes` for `QueueArn` only, with the client for
 *   the queue's region (as the SQS sender picks it). Up when SQS answers. **Agents must allow the
 *   marketplace role `sqs:GetQueueAttributes` in their queue policy, next to `sqs:SendMessage`**;
 *   without it the probe reports `AccessDenied` and the agent counts as down. No such queue is
 *   `QueueDoesNotExist`. Only URLs the registration accepts as queue URLs are probed (the SDK
 *   sends to the queue URL's host), loopback emulator URLs only with `allowLoopback`.
 * - **HTTPS** (`endpoint_kind: "https"`): one `GET` of the endpoint URL through the same SSRF guard
 *   and pinned DNS lookup as the HTTPS sender (`https:` only, public addresses only; plain `http:`
 *   to loopback with `allowLoopback`). Redirects are not followed, the body is not read, no
 *   signature is sent. Up per {@link isUpStatus} (2xx–4xx except 408/429: the endpoint answered);
 *   `status_code` is recorded whenever there is an answer.
 *
 * Each probe, connection set-up included, is bounded by `timeoutMs`. A refused URL, a timeout, a
 * connection error, an AWS error or a "down" status is `ok: false` with a short `error` (an error
 * name and message, a status and host; URLs in it are cut to their origin), never a thrown error.
 * `latency_ms` is the whole probe, rounded to an integer.
 */
export function createEndpointProber(options: EndpointProberOptions = {}): EndpointProber {
  const { timeoutMs = DEFAULT_HTTPS_TIMEOUT_MS, now = () => performance.now(), resolve } = options;
  const policy: EndpointPolicy = { allowLoopback: options.allowLoopback ?? false };
  let clientFor: ((queueUrl: string) => SQSClient) | undefined;

  async function probeSqs(queueUrl: string): Promise<Outcome> {
    const classified = classifyBiddingEndpoint(queueUrl, { allowLoopback: policy.allowLoopback ?? false });
    if (!("kind" in classified) || classified.kind !== "sqs")
      return { ok: false, error: "not an SQS queue URL" };
    clientFor ??= createQueueClientResolver({
      client: options.sqsClient ?? createSqsClient(),
      clientForRegion: options.sqsClientFor ?? ((region) => createSqsClient({ region })),
    });
    const client = clientFor(queueUrl);
    try {
      const answer = await withTimeout(timeoutMs, hostOf(queueUrl), (abortSignal) =>
        client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }), {
          abortSignal,
        }),
      );
      const status = answer.$metadata.httpStatusCode;
      return { ok: true, ...(status === undefined ? {} : { status_code: status }) };
    } catch (error) {
      const status = httpStatusOf(error);
      return { ok: false, ...(status === undefined ? {} : { status_code: status }), error: describe(error) };
    }
  }

  async function probeHttps(value: string): Promise<Outcome> {
    const url = checkEndpointUrl(value, policy);
    const status = await requestStatus(
      url,
      { method: "GET", headers: { accept: "*/*", "user-agent": "AgentForge-Prober/1" } },
      { timeoutMs, policy, ...(resolve ? { resolve } : {}) },
    );
    return isUpStatus(status)
      ? { ok: true, status_code: status }
      : { ok: false, status_code: status, error: `HTTP ${status} from ${url.host}` };
  }

  return {
    async probe(endpoint) {
      const started = now();
      let outcome: Outcome;
      try {
        outcome =
          endpoint.endpoint_kind === "https"
            ? await probeHttps(endpoint.bidding_endpoint)
            : await probeSqs(endpoint.bidding_endpoint);
      } catch (error) {
        outcome = { ok: false, error: describe(error) };
      }
      return { ...outcome, latency_ms: Math.max(0, Math.round(now() - started)) };
    },
  };
}
