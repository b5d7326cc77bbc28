import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { SIGNATURE_ATTRIBUTE } from "../../domain/bidding/messages.js";
import { NonRetryableError } from "../../domain/bidding/retry.js";
import { sealMessage } from "../../domain/bidding/signing.js";
import type { EndpointSender } from "../../ports/endpoint-sender.js";
import { checkEndpointUrl, createGuardedLookup, type EndpointPolicy, type Resolver } from "./ssrf.js";

export const DEFAULT_HTTPS_TIMEOUT_MS = 3000;

export interface HttpsEndpointSenderOptions extends EndpointPolicy {
  /** Whole-request budget (connect, TLS, headers of the answer); default 3 s. */
  timeoutMs?: number;
  /** Clock for the message's `sent_at`. */
  now?: () => Date;
  /** Host name resolution; the system resolver by default (tests inject one). */
  resolve?: Resolver;
}

/** HTTP statuses worth another attempt; every other non-2xx answer is final. */
const RETRYABLE_STATUSES = new Set([408, 425, 429]);

/** A non-2xx answer. The message names the status and host only: paths and queries may hold tokens. */
function statusError(status: number, url: URL): Error {
  const message = `HTTP ${status} from ${url.host}`;
  return status >= 500 || RETRYABLE_STATUSES.has(status)
    ? new Error(message)
    : new NonRetryableError(message);
}

/**
 * Sends one request (`body`, if any) and resolves to the answer's status once its headers arrive;
 * the body is not read. The connection goes through the SSRF guard, pinned to the vetted address
 * (`url` must already have passed `checkEndpointUrl`). No redirects are followed, no connection is
 * reused, and the whole exchange is bounded by `timeoutMs`.
 */
export function requestStatus(
  url: URL,
  { method, headers, body }: { method: "GET" | "POST"; headers: Record<string, string>; body?: string },
  { timeoutMs, policy, resolve }: { timeoutMs: number; policy: EndpointPolicy; resolve?: Resolver },
): Promise<number> {
  return new Promise((settle, reject) => {
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const lookup = createGuardedLookup({
      ...policy,
      loopbackOnly: url.protocol === "http:",
      ...(resolve ? { resolve } : {}),
    });
    let request: ClientRequest | undefined;
    const timer = setTimeout(() => {
      request?.destroy(new Error(`timed out after ${timeoutMs} ms (${url.host})`));
    }, timeoutMs);
    request = send(url, { method, headers, lookup, agent: false }, (response: IncomingMessage) => {
      clearTimeout(timer);
      settle(response.statusCode ?? 0);
      response.destroy();
    });
    request.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.end(body);
  });
}

/**
 * Delivers marketplace messages to agents' HTTPS endpoints: a JSON POST of the sealed body (protocol
 * v2: `sent_at` and a fresh `nonce` inside it) with `X-AgentForge-Signature: sha256=<hex HMAC-SHA256
 * of the exact body>` (the agent checks it with its bid-signing secret, refuses a `sent_at` far from
 * the arrival time and a nonce seen before), a short timeout, and non-2xx as failure. Every connection goes through the SSRF guard in `ssrf.ts`, pinned to the address it
 * vetted. Throws {@link NonRetryableError} for failures retrying cannot fix (a refused address, a 4xx
 * other than 408/425/429, a redirect).
 */
export function createHttpsEndpointSender(options: HttpsEndpointSenderOptions = {}): EndpointSender {
  const { timeoutMs = DEFAULT_HTTPS_TIMEOUT_MS, now = () => new Date(), resolve } = options;
  const policy: EndpointPolicy = { allowLoopback: options.allowLoopback ?? false };
  return {
    async send(endpoint, message, secret) {
      const url = checkEndpointUrl(endpoint.bidding_endpoint, policy);
      const { body, signature } = sealMessage(message, secret, { now: now() });
      const status = await requestStatus(
        url,
        {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            "user-agent": "AgentForge-Dispatcher/2",
            [SIGNATURE_ATTRIBUTE]: signature,
          },
          body,
        },
        { timeoutMs, policy, ...(resolve ? { resolve } : {}) },
      );
      if (status < 200 || status >= 300) throw statusError(status, url);
    },
  };
}

/** SQS error names that another attempt a few hundred milliseconds later cannot fix. */
const FINAL_SQS_ERRORS = new Set([
  "QueueDoesNotExist",
  "AWS.SimpleQueueService.NonExistentQueue",
  "AccessDenied",
  "AccessDeniedException",
  "InvalidAddress",
  "InvalidSecurity",
  "InvalidParameterValue",
  "InvalidMessageContents",
  "KmsAccessDenied",
  "KmsDisabled",
  "KmsInvalidKeyUsage",
  "KmsInvalidState",
  "KmsNotFound",
  "UnsupportedOperation",
]);

function isFinalSqsError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" && FINAL_SQS_ERRORS.has(name);
}

/**
 * Routes each delivery by the agent's `endpoint_kind`: SQS queues to `sqs`, HTTPS endpoints to
 * `https`. SQS errors that retrying cannot fix (no such queue, access denied, ...) are rethrown as
 * {@link NonRetryableError} so they cost one attempt; throttling and server faults stay retryable
 * (the SDK has already retried them itself by then).
 */
export function createEndpointSender({
  sqs,
  https,
}: {
  sqs: EndpointSender;
  https: EndpointSender;
}): EndpointSender {
  return {
    async send(endpoint, message, secret) {
      if (endpoint.endpoint_kind === "https") return https.send(endpoint, message, secret);
      try {
        await sqs.send(endpoint, message, secret);
      } catch (error) {
        if (!isFinalSqsError(error)) throw error;
        const { name, message: text } = error as Error;
        throw new NonRetryableError(`${name}: ${text}`, { cause: error });
      }
    },
  };
}
