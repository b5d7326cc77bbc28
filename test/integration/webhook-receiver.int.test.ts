import { createHash, randomUUID } from "node:crypto";
import { type AddressInfo, createServer, type Socket } from "node:net";
import type { EmfOutput } from "@aws-lambda-powertools/metrics/types";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { createSqsIntakeQueue, SQS_MAX_MESSAGE_BYTES } from "../../src/adapters/sqs/intake-queue.js";
import { type IntakeMessage, intakeMessageSchema } from "../../src/domain/webhooks/intake-message.js";
import { type InterpretOptions, interpretDelivery } from "../../src/domain/webhooks/interpret.js";
import { slimPayload } from "../../src/domain/webhooks/slim-payload.js";
import { createWebhookReceiver, type WebhookReceiver } from "../../src/http/webhook-receiver.js";
import { DEFAULT_WEBHOOK_MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES } from "../../src/http/webhook-request.js";
import { freePort } from "../../src/local/dynamodb-local.js";
import { createObservability } from "../../src/observability.js";
import type { IntakeQueue } from "../../src/ports/intake-queue.js";
import {
  apiGatewayEvent,
  githubDelivery,
  githubPayload,
  issuesClosedPayload,
  multibyteText,
  pullRequestMergedPayload,
  signBody,
  TEST_WEBHOOK_SECRET,
} from "../fixtures/github.js";
import { type TestQueue, useTestQueue } from "../helpers/sqs.js";

/** Any Unicode text, lone surrogates included (fast-check's "binary" string unit is far slower). */
const anyText = (maxLength: number) =>
  fc
    .array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength })
    .map((points) => String.fromCodePoint(...points));

const NOW = new Date("2025-07-01T12:00:05.000Z");
/** The receiver's default body limit, as deployed. */
const MAX_BODY_BYTES = DEFAULT_WEBHOOK_MAX_BODY_BYTES;
const INTERPRET: InterpretOptions = {
  marketplaceLabel: "agentforge",
  humanInterventionLabel: "human-intervention",
};

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

/** What the worker makes of a payload: its intents, or the error it throws. */
function verdict(event: string, payload: unknown): unknown {
  try {
    return interpretDelivery(event, payload, INTERPRET);
  } catch (error) {
    return String(error);
  }
}

interface Harness {
  receiver: WebhookReceiver;
  /** Every EMF document the receiver flushed, in order. */
  emitted: EmfOutput[];
}

function harness(
  queue: IntakeQueue,
  overrides: { secret?: () => Promise<string>; maxBodyBytes?: number; logLevel?: "SILENT" | "DEBUG" } = {},
): Harness {
  const emitted: EmfOutput[] = [];
  const { logger, metrics } = createObservability({
    logLevel: overrides.logLevel ?? "SILENT",
    metricsSink: (emf) => emitted.push(emf),
  });
  const receiver = createWebhookReceiver({
    secret: overrides.secret ?? (async () => TEST_WEBHOOK_SECRET),
    queue,
    maxBodyBytes: overrides.maxBodyBytes ?? MAX_BODY_BYTES,
    logger,
    metrics,
    now: () => NOW,
  });
  return { receiver, emitted };
}

function json(response: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  expect(response.headers?.["content-type"]).toMatch(/^application\/json/);
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

/** Asserts the documented error body and returns its code. */
function errorCode(response: APIGatewayProxyStructuredResultV2): string {
  const body = json(response);
  expect(Object.keys(body)).toEqual(["error"]);
  const error = body.error as Record<string, unknown>;
  expect(Object.keys(error).sort()).toEqual(["code", "message"]);
  expect(typeof error.code).toBe("string");
  expect(typeof error.message).toBe("string");
  expect(String(response.body)).not.toMatch(/\n\s+at /);
  return String(error.code);
}

/** The metric names and `reason` dimension of one flushed EMF document. */
function metricSummary(emf: EmfOutput | undefined): { names: string[]; reason?: unknown } {
  const names = emf?._aws.CloudWatchMetrics.flatMap((m) => m.Metrics.map((d) => d.Name)) ?? [];
  return { names, ...(emf && "reason" in emf ? { reason: emf.reason } : {}) };
}

function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "AgentForge-WebhookReceiver",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:AgentForge-WebhookReceiver",
    memoryLimitInMB: "256",
    awsRequestId: randomUUID(),
    logGroupName: "/aws/lambda/AgentForge-WebhookReceiver",
    logStreamName: "2025/07/01/[$LATEST]0123456789abcdef",
    getRemainingTimeInMillis: () => 10_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

describe("webhook receiver against the SQS emulator", () => {
  let queue: TestQueue;
  let intake: IntakeQueue;
  let h: Harness;

  beforeAll(async () => {
    queue = await useTestQueue("webhook-intake");
    intake = createSqsIntakeQueue({ client: queue.client, queueUrl: queue.queueUrl });
    h = harness(intake);
  });

  beforeEach(async () => {
    await queue.drain();
    h.emitted.length = 0;
  });

  describe("accepted deliveries", () => {
    it("queues a signed issues.opened delivery as an IntakeMessage and answers 202", async () => {
      const payload: Payload = githubPayload("issues", "opened");
      const { event, deliveryId, rawBody } = githubDelivery({ event: "issues", payload });

      const response = await h.receiver.receive(event);
      const messages = await queue.drain();

      expect(response.statusCode).toBe(202);
      expect(json(response)).toEqual({ accepted: true, delivery_id: deliveryId });
      expect(messages).toHaveLength(1);
      const message = intakeMessageSchema.parse(JSON.parse(String(messages[0]?.Body)));
      expect(message).toEqual({
        delivery_id: deliveryId,
        event: "issues",
        received_at: NOW.toISOString(),
        body_sha256: createHash("sha256").update(rawBody, "utf8").digest("hex"),
        payload: slimPayload("issues", payload),
      });
      expect(messages[0]?.MessageAttributes).toEqual({
        event: { DataType: "String", StringValue: "issues" },
        delivery_id: { DataType: "String", StringValue: deliveryId },
      });
      expect(h.emitted.map(metricSummary)).toEqual([{ names: ["WebhookDeliveriesAccepted"] }]);
      expect(h.emitted[0]?._aws.CloudWatchMetrics[0]?.Namespace).toBe("AgentForge");
    });

    it.each([
      ["issues.opened", "issues", () => githubPayload("issues", "opened")],
      ["issues.closed (completed)", "issues", () => issuesClosedPayload("completed")],
      ["issues.closed (not planned)", "issues", () => issuesClosedPayload("not_planned")],
      ["issues.labeled", "issues", () => githubPayload("issues", "labeled")],
      ["pull_request.closed (merged)", "pull_request", () => pullRequestMergedPayload()],
      ["pull_request.closed (unmerged)", "pull_request", () => githubPayload("pull_request", "closed")],
      ["check_suite.completed", "check_suite", () => githubPayload("check_suite", "completed")],
      ["push (an event the worker ignores)", "push", () => githubPayload("push")],
    ])("queues the fields the worker reads from a real %s payload", async (_, name, build) => {
      const payload: Payload = build();
      const { event, deliveryId } = githubDelivery({ event: name, payload });

      const response = await h.receiver.receive(event);
      const [message, ...rest] = await queue.drain();

      expect(response.statusCode).toBe(202);
      expect(rest).toHaveLength(0);
      const queued = intakeMessageSchema.parse(JSON.parse(String(message?.Body)));
      expect(queued).toMatchObject({
        delivery_id: deliveryId,
        event: name,
        payload: slimPayload(name, payload),
      });
      expect(verdict(name, queued.payload)).toEqual(verdict(name, payload));
    });

    it("queues a payload quoting U+FFFF, which SQS only accepts escaped, and it parses back unchanged", async () => {
      const payload = githubPayload("issues", "opened");
      payload.issue.title = "Crash on \uFFFF in titles";
      const { event } = githubDelivery({ event: "issues", payload });

      const response = await h.receiver.receive(event);
      const [message] = await queue.drain();

      expect(response.statusCode).toBe(202);
      expect(message?.Body).not.toContain("\uFFFF");
      expect(JSON.parse(String(message?.Body)).payload.issue.title).toBe("Crash on \uFFFF in titles");
    });

    it("verifies and queues a base64-encoded body, hashing the decoded bytes GitHub signed", async () => {
      const payload = issuesClosedPayload();
      const { event, deliveryId, rawBody } = githubDelivery({ event: "issues", payload, base64: true });

      const response = await h.receiver.receive(event);
      const messages = await queue.drain();

      expect(event.isBase64Encoded).toBe(true);
      expect(response.statusCode).toBe(202);
      expect(messages.map((m) => JSON.parse(String(m.Body)))).toMatchObject([
        { delivery_id: deliveryId, body_sha256: createHash("sha256").update(rawBody, "utf8").digest("hex") },
      ]);
    });

    it("reads headers in any case", async () => {
      const payload = githubPayload("issues", "opened");
      const rawBody = JSON.stringify(payload);
      const deliveryId = randomUUID();
      const event = apiGatewayEvent({
        body: rawBody,
        keepHeaderCase: true,
        headers: {
          "Content-Type": "application/json",
          "X-GitHub-Event": "issues",
          "X-GITHUB-DELIVERY": deliveryId,
          "X-Hub-Signature-256": signBody(TEST_WEBHOOK_SECRET, rawBody),
        },
      });

      const response = await h.receiver.receive(event);

      expect(response.statusCode).toBe(202);
      expect(await queue.drain()).toHaveLength(1);
    });

    it("answers ping with 200 and queues nothing", async () => {
      const { event, deliveryId } = githubDelivery({ event: "ping", payload: githubPayload("ping") });

      const response = await h.receiver.receive(event);

      expect(response.statusCode).toBe(200);
      expect(json(response)).toEqual({ pong: true, delivery_id: deliveryId });
      expect(await queue.drain()).toHaveLength(0);
      expect(h.emitted.map(metricSummary)).toEqual([{ names: ["WebhookPingsReceived"] }]);
    });
  });

  describe("large deliveries", () => {
    /** The one queued message, validated as the worker validates it, and its size in bytes. */
    async function queuedMessage(): Promise<{ message: IntakeMessage; bytes: number }> {
      const messages = await queue.drain();
      expect(messages).toHaveLength(1);
      const body = String(messages[0]?.Body);
      return { message: intakeMessageSchema.parse(JSON.parse(body)), bytes: Buffer.byteLength(body, "utf8") };
    }

    /** A repository object padded the way big real ones are (long descriptions, many topics, custom properties). */
    function bigRepository(payload: Payload): void {
      payload.repository.description = multibyteText(350);
      payload.repository.topics = Array.from({ length: 20 }, (_, i) => `topic-${i}`);
      payload.repository.custom_properties = Object.fromEntries(
        Array.from({ length: 100 }, (_, i) => [`property_${i}`, "x".repeat(75)]),
      );
    }

    it("accepts a signed issue whose body is 65,536 multibyte characters, and queues a small message", async () => {
      const payload: Payload = githubPayload("issues", "opened");
      payload.issue.body = multibyteText(65_536);
      payload.issue.labels = ["agentforge", "cap:python", "budget:25"].map((name, id) => ({
        id,
        name,
        color: "ededed",
        default: false,
      }));
      bigRepository(payload);
      const { event, deliveryId, rawBody } = githubDelivery({ event: "issues", payload });

      const response = await h.receiver.receive(event);
      const { message, bytes } = await queuedMessage();

      expect(Buffer.byteLength(rawBody)).toBeGreaterThan(200 * 1024);
      expect(response.statusCode).toBe(202);
      expect(message.delivery_id).toBe(deliveryId);
      expect(bytes).toBeLessThan(4 * 1024);
      expect(message.payload).toEqual(slimPayload("issues", payload));
      const intents = verdict("issues", message.payload);
      expect(intents).toEqual(verdict("issues", payload));
      expect(intents).toEqual([
        expect.objectContaining({
          kind: "create_task",
          task: expect.objectContaining({
            task_id: payload.issue.html_url,
            required_capabilities: ["python"],
          }),
        }),
      ]);
    });

    it("accepts a pull request with a 65,536-character multibyte body and keeps what closes issues", async () => {
      const payload: Payload = pullRequestMergedPayload();
      payload.pull_request.body = `Fixes #12\n${multibyteText(65_536)}`;
      bigRepository(payload);
      const { event } = githubDelivery({ event: "pull_request", payload, base64: true });

      const response = await h.receiver.receive(event);
      const { message, bytes } = await queuedMessage();

      expect(response.statusCode).toBe(202);
      expect(bytes).toBeLessThan(SQS_MAX_MESSAGE_BYTES);
      const queuedBody = (message.payload as Payload).pull_request.body as string;
      expect(queuedBody.length).toBeLessThanOrEqual(65_536);
      expect(payload.pull_request.body.startsWith(queuedBody)).toBe(true);
      expect(verdict("pull_request", message.payload)).toEqual(verdict("pull_request", payload));
      expect(verdict("pull_request", message.payload)).toContainEqual(
        expect.objectContaining({
          kind: "link_pr",
          taskIds: ["https://github.com/Codertocat/Hello-World/issues/12"],
        }),
      );
    });

    it("accepts a review carrying two maximal bodies, and queues only the pull request's", async () => {
      const payload: Payload = githubPayload("pull_request_review", "submitted");
      payload.review.body = multibyteText(65_536);
      payload.review.state = "approved";
      payload.pull_request.body = `${multibyteText(65_536)} closes #3`;
      bigRepository(payload);
      const { event, rawBody } = githubDelivery({ event: "pull_request_review", payload });

      const response = await h.receiver.receive(event);
      const { message, bytes } = await queuedMessage();

      expect(Buffer.byteLength(rawBody)).toBeGreaterThan(SQS_MAX_MESSAGE_BYTES);
      expect(response.statusCode).toBe(202);
      expect(bytes).toBeLessThan(SQS_MAX_MESSAGE_BYTES);
      expect((message.payload as Payload).review).not.toHaveProperty("body");
      expect(verdict("pull_request_review", message.payload)).toEqual(
        verdict("pull_request_review", payload),
      );
    });

    it("answers 413 with the sizes when even the worker's fields exceed the queue's limit", async () => {
      const payload: Payload = githubPayload("issues", "labeled");
      payload.issue.labels = Array.from({ length: 12_000 }, (_, i) => ({
        name: `label-${i}-${"x".repeat(12)}`,
      }));
      const { event, rawBody } = githubDelivery({ event: "issues", payload });

      const response = await h.receiver.receive(event);

      expect(Buffer.byteLength(rawBody)).toBeLessThan(MAX_BODY_BYTES);
      expect(response.statusCode).toBe(413);
      expect(errorCode(response)).toBe("PAYLOAD_TOO_LARGE");
      expect(json(response).error).toMatchObject({
        message: expect.stringMatching(
          /^Delivery needs \d+ bytes on the intake queue even reduced to the fields the worker reads; the queue takes at most 262144$/,
        ),
      });
      expect(await queue.drain()).toHaveLength(0);
      expect(h.emitted.map(metricSummary)).toEqual([
        { names: ["WebhookDeliveriesRejected"], reason: "PAYLOAD_TOO_LARGE" },
      ]);
    });

    it("refuses a body limit above what the receiver can take", () => {
      expect(() => harness(intake, { maxBodyBytes: MAX_WEBHOOK_BODY_BYTES + 1 })).toThrow(RangeError);
      expect(() => harness(intake, { maxBodyBytes: 0 })).toThrow(RangeError);
      expect(() => harness(intake, { maxBodyBytes: MAX_WEBHOOK_BODY_BYTES })).not.toThrow();
    });
  });

  describe("refused deliveries queue nothing", () => {
    const payload = githubPayload("issues", "opened");
    const rawBody = JSON.stringify(payload);
    const signed = (body: string, headers: Record<string, string | undefined> = {}) =>
      apiGatewayEvent({
        body,
        headers: {
          "x-github-event": "issues",
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": signBody(TEST_WEBHOOK_SECRET, body),
          ...headers,
        },
      });
    const oversized = JSON.stringify({ ...payload, padding: "x".repeat(MAX_BODY_BYTES) });

    it.each<[string, number, string, () => APIGatewayProxyEventV2]>([
      ["no signature", 401, "UNAUTHORIZED", () => signed(rawBody, { "x-hub-signature-256": undefined })],
      [
        "a signature made with another secret",
        401,
        "UNAUTHORIZED",
        () => signed(rawBody, { "x-hub-signature-256": signBody("not the secret", rawBody) }),
      ],
      [
        "a body changed after signing",
        401,
        "UNAUTHORIZED",
        () => signed(rawBody, { "x-hub-signature-256": signBody(TEST_WEBHOOK_SECRET, `${rawBody} `) }),
      ],
      [
        "a non-hex signature",
        401,
        "UNAUTHORIZED",
        () => signed(rawBody, { "x-hub-signature-256": "sha256=nothex" }),
      ],
      [
        "a tampered base64 body",
        401,
        "UNAUTHORIZED",
        () => {
          const event = signed(rawBody);
          event.body = Buffer.from(rawBody.replace("opened", "closed")).toString("base64");
          event.isBase64Encoded = true;
          return event;
        },
      ],
      ["malformed JSON", 400, "MALFORMED_JSON", () => signed('{"action":"opened"')],
      ["a JSON array", 400, "INVALID_PAYLOAD", () => signed("[1,2,3]")],
      ["no X-GitHub-Event", 400, "MISSING_HEADER", () => signed(rawBody, { "x-github-event": undefined })],
      [
        "an invalid X-GitHub-Event",
        400,
        "INVALID_HEADER",
        () => signed(rawBody, { "x-github-event": "Issues!" }),
      ],
      [
        "no X-GitHub-Delivery",
        400,
        "MISSING_HEADER",
        () => signed(rawBody, { "x-github-delivery": undefined }),
      ],
      [
        "an invalid X-GitHub-Delivery",
        400,
        "INVALID_HEADER",
        () => signed(rawBody, { "x-github-delivery": "x".repeat(129) }),
      ],
      ["a body over the limit", 413, "PAYLOAD_TOO_LARGE", () => signed(oversized)],
      [
        "a Content-Length over the limit",
        413,
        "PAYLOAD_TOO_LARGE",
        () => signed(rawBody, { "content-length": String(MAX_BODY_BYTES + 1) }),
      ],
      [
        "a form-encoded body (the hook's content type is wrong)",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        () =>
          signed(`payload=${encodeURIComponent(rawBody)}`, {
            "content-type": "application/x-www-form-urlencoded",
          }),
      ],
      ["a GET", 405, "METHOD_NOT_ALLOWED", () => apiGatewayEvent({ method: "GET" })],
    ])("%s → %i %s", async (_, status, code, build) => {
      const response = await h.receiver.receive(build());

      expect(response.statusCode).toBe(status);
      expect(errorCode(response)).toBe(code);
      expect(await queue.drain()).toHaveLength(0);
      expect(h.emitted.map(metricSummary)).toEqual([{ names: ["WebhookDeliveriesRejected"], reason: code }]);
    });

    it("checks the size before the signature, and the signature before headers and JSON", async () => {
      const unsignedHuge = apiGatewayEvent({ body: oversized, headers: { "x-github-event": "Bad Event" } });
      const unsignedBroken = apiGatewayEvent({ body: "{", headers: { "x-github-event": "Bad Event" } });

      expect((await h.receiver.receive(unsignedHuge)).statusCode).toBe(413);
      expect((await h.receiver.receive(unsignedBroken)).statusCode).toBe(401);
    });
  });

  describe("outages answer 503 so the delivery can be retried", () => {
    it("when the intake queue is unreachable", async () => {
      const port = await freePort();
      const client = createSqsClient({ endpoint: `http://127.0.0.1:${port}`, requireLocal: true });
      const deadQueue = createSqsIntakeQueue({
        client,
        queueUrl: `http://127.0.0.1:${port}/123456789012/intake`,
      });
      const { receiver, emitted } = harness(deadQueue);
      const { event } = githubDelivery({ event: "issues", payload: githubPayload("issues", "opened") });

      const response = await receiver.receive(event);
      client.destroy();

      expect(response.statusCode).toBe(503);
      expect(errorCode(response)).toBe("SERVICE_UNAVAILABLE");
      expect(response.headers?.["retry-after"]).toBe("10");
      expect(emitted.map(metricSummary)).toEqual([
        { names: ["WebhookDeliveriesRejected"], reason: "SERVICE_UNAVAILABLE" },
      ]);
    });

    it("when the intake queue hangs, within the send timeout", async () => {
      const sockets: Socket[] = [];
      const blackHole = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => blackHole.listen(0, "127.0.0.1", resolve));
      const endpoint = `http://127.0.0.1:${(blackHole.address() as AddressInfo).port}`;
      const client = createSqsClient({ endpoint, requireLocal: true });
      const hungQueue = createSqsIntakeQueue({
        client,
        queueUrl: `${endpoint}/123456789012/intake`,
        sendTimeoutMs: 300,
      });
      const { receiver } = harness(hungQueue);
      const { event } = githubDelivery({ event: "issues", payload: githubPayload("issues", "opened") });

      const started = Date.now();
      const response = await receiver.receive(event);
      const elapsed = Date.now() - started;
      client.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));

      expect(response.statusCode).toBe(503);
      expect(errorCode(response)).toBe("SERVICE_UNAVAILABLE");
      expect(elapsed).toBeLessThan(3_000);
    });

    it("when the webhook secret cannot be read", async () => {
      const { receiver } = harness(intake, {
        secret: () => Promise.reject(new Error("Secrets Manager throttled")),
      });
      const { event } = githubDelivery({ event: "issues", payload: githubPayload("issues", "opened") });

      const response = await receiver.receive(event);

      expect(response.statusCode).toBe(503);
      expect(errorCode(response)).toBe("SERVICE_UNAVAILABLE");
      expect(await queue.drain()).toHaveLength(0);
    });
  });

  describe("logs", () => {
    let lines: string[];

    beforeEach(() => {
      lines = [];
      // Powertools writes INFO to stdout and WARN/ERROR to stderr.
      for (const stream of [process.stdout, process.stderr]) {
        vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
          lines.push(String(chunk));
          return true;
        });
      }
    });

    afterEach(() => {
      vi.restoreAllMocks();
    });

    it("are JSON lines carrying the delivery id and event, never the secret, signature or body", async () => {
      const { receiver } = harness(intake, { logLevel: "DEBUG" });
      const payload = githubPayload("issues", "opened");
      payload.issue.title = "a-unique-title-that-must-not-be-logged";
      const ok = githubDelivery({ event: "issues", payload });
      const forged = githubDelivery({ event: "issues", payload, secret: "forged" });

      await receiver.receive(ok.event, lambdaContext());
      await receiver.receive(forged.event, lambdaContext());
      vi.restoreAllMocks();
      await queue.drain();

      const logs = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(logs).toEqual([
        expect.objectContaining({
          level: "INFO",
          message: "Webhook delivery accepted",
          service: "agentforge",
          event: "issues",
          delivery_id: ok.deliveryId,
          function_name: "AgentForge-WebhookReceiver",
        }),
        expect.objectContaining({
          level: "WARN",
          message: "Webhook delivery rejected",
          code: "UNAUTHORIZED",
          delivery_id: forged.deliveryId,
        }),
      ]);
      const all = lines.join("\n");
      expect(all).not.toContain(TEST_WEBHOOK_SECRET);
      expect(all).not.toContain(String(ok.event.headers["x-hub-signature-256"]).slice(7));
      expect(all).not.toContain(String(forged.event.headers["x-hub-signature-256"]).slice(7));
      expect(all).not.toContain("a-unique-title-that-must-not-be-logged");
    });
  });

  describe("property: arbitrary requests", () => {
    const SMALL_LIMIT = 4 * 1024;
    const RUNS = 1_000;

    /** `fc.oneof` from `[weight, arbitrary]` pairs, so mostly-valid requests reach the deeper checks. */
    const weighted = <T>(...entries: [number, fc.Arbitrary<T>][]) =>
      fc.oneof(...entries.map(([weight, arbitrary]) => ({ weight, arbitrary })));
    const absent = fc.constant(undefined);

    /** A raw request, before encoding: the body and everything GitHub or an attacker could vary. */
    const request = fc.record({
      body: weighted<string>(
        [4, fc.object().map((o) => JSON.stringify(o))],
        [2, fc.json()],
        [2, anyText(300)],
        [1, fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1"))],
        [1, fc.constantFrom(JSON.stringify(githubPayload("ping")), "", "{}", "[]", "null")],
        [1, fc.integer({ min: SMALL_LIMIT - 2, max: SMALL_LIMIT * 64 }).map((n) => `"${"x".repeat(n)}"`)],
      ),
      base64: fc.boolean(),
      signature: weighted<string | undefined>(
        [6, fc.constant("valid")],
        [1, absent],
        [1, fc.constant("other-secret")],
        [1, fc.stringMatching(/^sha256=[0-9a-fA-F]{0,70}$/)],
        [1, anyText(80)],
      ),
      event: weighted<string | undefined>(
        [6, fc.constantFrom("issues", "pull_request", "check_suite", "ping", "push")],
        [2, fc.stringMatching(/^[a-z_]{1,64}$/)],
        [1, fc.string({ maxLength: 80 })],
        [1, absent],
      ),
      delivery: weighted<string | undefined>([8, fc.uuid()], [1, fc.string({ maxLength: 140 })], [1, absent]),
      contentType: weighted<string | undefined>(
        [6, fc.constant("application/json")],
        [2, fc.constant("application/json; charset=utf-8")],
        [1, fc.constantFrom("application/x-www-form-urlencoded", "text/plain")],
        [1, absent],
      ),
      contentLength: weighted<string | undefined>(
        [8, fc.constant("computed")],
        [2, absent],
        [1, fc.string({ maxLength: 12 })],
        [1, fc.nat().map(String)],
      ),
      method: weighted([19, fc.constant("POST")], [1, fc.constantFrom("GET", "PUT", "DELETE")]),
      upperCaseNames: fc.boolean(),
    });

    it(`never answers 5xx, and every 4xx is the documented JSON error (${RUNS} runs)`, async () => {
      const { receiver, emitted } = harness(intake, { maxBodyBytes: SMALL_LIMIT });
      let accepted = 0;
      await queue.drain();

      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const bytes = Buffer.from(r.body, "utf8");
          const wireBody = r.base64 ? bytes.toString("base64") : r.body;
          const signature =
            r.signature === "valid"
              ? signBody(TEST_WEBHOOK_SECRET, bytes)
              : r.signature === "other-secret"
                ? signBody("other", bytes)
                : r.signature;
          const headers: Record<string, string | undefined> = {
            "x-hub-signature-256": signature,
            "x-github-event": r.event,
            "x-github-delivery": r.delivery,
            "content-type": r.contentType,
            ...(r.contentLength === "computed" ? {} : { "content-length": r.contentLength }),
          };
          const event = apiGatewayEvent({
            body: wireBody,
            isBase64Encoded: r.base64,
            method: r.method,
            keepHeaderCase: r.upperCaseNames,
            headers: r.upperCaseNames
              ? Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]))
              : headers,
          });
          const flushedBefore = emitted.length;

          const response = await receiver.receive(event);

          const status = response.statusCode ?? 0;
          expect(status).toBeGreaterThanOrEqual(200);
          expect(status).toBeLessThan(500);
          expect(emitted.length).toBe(flushedBefore + 1);
          if (status >= 400) {
            errorCode(response);
          } else {
            json(response);
          }
          const declared = r.contentLength === "computed" ? String(bytes.length) : r.contentLength?.trim();
          if (r.method !== "POST") {
            expect(status).toBe(405);
          } else if (declared !== undefined && !/^\d{1,15}$/.test(declared)) {
            expect(status).toBe(400);
          } else if (bytes.length > SMALL_LIMIT || Number(declared ?? 0) > SMALL_LIMIT) {
            expect(status).toBe(413);
          } else if (signature !== signBody(TEST_WEBHOOK_SECRET, bytes)) {
            expect(status).toBe(401);
          } else {
            expect([200, 202, 400, 415]).toContain(status);
          }
          if (status === 202) accepted += 1;
        }),
        { numRuns: RUNS },
      );

      const queued = await queue.drain();
      expect(queued).toHaveLength(accepted);
      for (const message of queued) intakeMessageSchema.parse(JSON.parse(String(message.Body)));
    });
  });

  describe("the Lambda handler", () => {
    afterAll(() => {
      vi.unstubAllEnvs();
    });

    it("builds the receiver from configuration once and serves deliveries", async () => {
      vi.stubEnv("SQS_ENDPOINT", queue.endpoint);
      vi.stubEnv("INTAKE_QUEUE_URL", queue.queueUrl);
      vi.stubEnv("GITHUB_WEBHOOK_SECRET", TEST_WEBHOOK_SECRET);
      vi.stubEnv("AGENTFORGE_LOCAL", "true");
      vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
      vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
      const { handler } = await import("../../functions/webhooks/github-receiver.handler.js");
      const { getReceiverDeps } = await import("../../functions/shared/container.js");
      const first = githubDelivery({ event: "issues", payload: githubPayload("issues", "opened") });
      const second = githubDelivery({ event: "issues", payload: issuesClosedPayload() });

      const responses = [
        await handler(first.event, lambdaContext()),
        await handler(second.event, lambdaContext()),
      ];
      const messages = await queue.drain();

      expect(responses.map((r) => r.statusCode)).toEqual([202, 202]);
      expect(messages.map((m) => JSON.parse(String(m.Body)).delivery_id).sort()).toEqual(
        [first.deliveryId, second.deliveryId].sort(),
      );
      expect(await getReceiverDeps()).toBe(await getReceiverDeps());
    });
  });
});
