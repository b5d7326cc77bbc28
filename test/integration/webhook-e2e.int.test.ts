import { type AttributeValue, QueryCommand } from "@aws-sdk/client-dynamodb";
import {
  GetQueueAttributesCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import { beforeAll, describe, expect, it, vi } from "vitest";
import {
  buildIntakeWorker,
  buildReceiverDeps,
  buildRestApi,
  buildWebhookService,
} from "../../functions/shared/container.js";
import { type Config, loadConfig } from "../../src/config.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import { createObservability } from "../../src/observability.js";
import { createIntakeBatchHandler } from "../../src/workers/intake-worker.js";
import {
  githubDelivery,
  githubPayload,
  issuesClosedPayload,
  pullRequestReviewPayload,
  TEST_WEBHOOK_SECRET,
} from "../fixtures/github.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { type TestQueue, useTestQueue } from "../helpers/sqs.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

const API_TOKEN = "e2e-api-token";

/**
 * End to end through the same code Lambda runs: signed HTTP request → webhook receiver → intake
 * queue (SQS emulator) → intake worker batch handler (Powertools partial batch responses) →
 * DynamoDB Local, read back with raw SDK queries.
 */
describe("GitHub webhook → intake queue → worker → ledger (end to end)", () => {
  let table: TestTable;
  let queue: TestQueue;
  let config: Config;
  let receiver: ReturnType<typeof buildReceiverDeps>;
  let worker: ReturnType<typeof buildIntakeWorker>;
  let services: ReturnType<typeof servicesFor>;
  let issueNumber = 5000;

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    table = await useTestTable();
    queue = await useTestQueue("e2e-intake");
    config = loadConfig({
      AGENTFORGE_LOCAL: "true",
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      SQS_ENDPOINT: queue.endpoint,
      INTAKE_QUEUE_URL: queue.queueUrl,
      GITHUB_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      AGENTFORGE_API_TOKEN: API_TOKEN,
    });
    receiver = buildReceiverDeps(config);
    worker = buildIntakeWorker(config);
    services = servicesFor(table);
  });

  async function send(event: string, payload: Payload, deliveryId?: string) {
    const delivery = githubDelivery({ event, payload, ...(deliveryId ? { deliveryId } : {}) });
    return receiver.receive(delivery.event);
  }

  /** Runs the worker over everything on the intake queue, as the event source mapping would. */
  async function work() {
    return createSqsEventSource({
      client: queue.client,
      queueUrl: queue.queueUrl,
      handler: worker.handle,
    }).drain();
  }

  function issue(action: string, labels: string[], n = ++issueNumber): Payload {
    const payload: Payload = githubPayload("issues", "reopened");
    payload.action = action;
    payload.issue.number = n;
    payload.issue.html_url = `https://github.com/Codertocat/Hello-World/issues/${n}`;
    payload.issue.labels = labels.map((name, id) => ({ id, name, color: "ededed", default: false }));
    return payload;
  }

  function closedIssue(url: string, at: string, reason: "completed" | "not_planned" = "completed"): Payload {
    const payload: Payload = issuesClosedPayload(reason, at);
    const n = Number(url.split("/").at(-1));
    payload.issue.number = n;
    payload.issue.html_url = url;
    payload.issue.updated_at = at;
    return payload;
  }

  async function query(pk: string, skPrefix: string): Promise<Record<string, AttributeValue>[]> {
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues: { ":pk": { S: pk }, ":sk": { S: skPrefix } },
        ConsistentRead: true,
      }),
    );
    return Items;
  }

  const ledgerOf = async (url: string) =>
    (await query(`TASK#${url}`, "LEDGER#")).map((i) => [i.SK?.S, i.status?.S, Number(i.quality_score?.N)]);

  /** Opens a marketplace issue over HTTP and awards it (bidding itself is the bid pipeline's job). */
  async function awardedTask() {
    const agent = agentInput();
    await services.agents.register(agent, TEST_OPERATOR);
    const payload = issue("opened", ["agentforge", "cap:python", "budget:25"]);
    expect((await send("issues", payload)).statusCode).toBe(202);
    await work();
    const url: string = payload.issue.html_url;
    await services.award({
      task_id: url,
      agent_id: agent.agent_id,
      bid_amount: 20,
      status: "AWARDED",
    });
    return { url, agentId: agent.agent_id };
  }

  it("issues.opened with the marketplace label stores the documented task item", async () => {
    const payload = issue("opened", ["agentforge", "cap:python", "cap:sql", "budget:25"]);

    const response = await send("issues", payload);
    await work();

    expect(response.statusCode).toBe(202);
    const [task] = await query(`TASK#${payload.issue.html_url}`, "TASK");
    expect(task?.type).toEqual({ S: "TASK" });
    expect(task?.status).toEqual({ S: "OPEN" });
    expect(task?.required_capabilities?.SS?.sort()).toEqual(["python", "sql"]);
    expect(task?.budget).toEqual({ N: "25" });
  });

  it("issues.labeled adding the marketplace label creates the task", async () => {
    const payload = issue("labeled", ["agentforge", "cap:rust"]);
    payload.label = { name: "agentforge" };

    await send("issues", payload);
    await work();

    const [task] = await query(`TASK#${payload.issue.html_url}`, "TASK");
    expect(task?.required_capabilities?.SS).toEqual(["rust"]);
  });

  it("issues.closed (completed) → SUCCESS ledger item and the winner's performance history", async () => {
    const { url, agentId } = await awardedTask();

    await send("issues", closedIssue(url, "2025-07-02T09:00:00Z"));
    await work();

    const [entry] = await query(`TASK#${url}`, "LEDGER#");
    expect(entry).toMatchObject({
      SK: { S: "LEDGER#2025-07-02T09:00:00.000Z" },
      type: { S: "TASK_LEDGER_ENTRY" },
      task_id: { S: url },
      winning_agent_id: { S: agentId },
      bid_amount: { N: "20" },
      actual_cost: { N: "20" },
      status: { S: "SUCCESS" },
      quality_score: { N: "0.6" },
      completion_timestamp: { S: "2025-07-02T09:00:00.000Z" },
    });
    const [profile] = await query(`AGENT#${agentId}`, "PROFILE");
    expect(profile?.performance_history?.M?.total_tasks_completed).toEqual({ N: "1" });
    expect(profile?.performance_history?.M?.success_rate).toEqual({ N: "1" });
  });

  it("issues.closed (not_planned) → FAILURE; the human-intervention label → HUMAN_INTERVENTION", async () => {
    const failed = await awardedTask();
    const helped = await awardedTask();
    const label = issue(
      "labeled",
      ["cap:python", "human-intervention"],
      Number(helped.url.split("/").at(-1)),
    );
    label.label = { name: "human-intervention" };
    label.issue.updated_at = "2025-07-02T10:00:00Z";

    await send("issues", closedIssue(failed.url, "2025-07-02T09:00:00Z", "not_planned"));
    await send("issues", label);
    await work();

    expect(await ledgerOf(failed.url)).toEqual([["LEDGER#2025-07-02T09:00:00.000Z", "FAILURE", 0]]);
    expect(await ledgerOf(helped.url)).toEqual([
      ["LEDGER#2025-07-02T10:00:00.000Z", "HUMAN_INTERVENTION", 0.1],
    ]);
  });

  it("a merged PR closing the issue, a green check suite and an approval feed the quality score", async () => {
    const { url } = await awardedTask();
    const n = Number(url.split("/").at(-1));
    const pr: Payload = githubPayload("pull_request", "closed");
    pr.pull_request.number = n + 100_000;
    pr.pull_request.body = `Adds retries.\n\ncloses Codertocat/Hello-World#${n}`;
    pr.pull_request.merged = true;
    pr.pull_request.merged_at = "2025-07-02T08:50:00Z";
    const suite: Payload = githubPayload("check_suite", "completed");
    suite.check_suite.conclusion = "success";
    suite.check_suite.updated_at = "2025-07-02T08:40:00Z";
    suite.check_suite.pull_requests = [
      { number: pr.pull_request.number, base: { repo: { id: suite.repository.id } } },
    ];
    const review: Payload = pullRequestReviewPayload({ submittedAt: "2025-07-02T08:45:00Z" });
    review.pull_request.number = n + 100_000;
    review.pull_request.body = `fixes #${n}`;

    // In GitHub's order, each delivered before the next is sent. (Late evidence is covered by the
    // webhook service tests: it yields a superseding entry with the corrected score.)
    for (const [event, payload] of [
      ["pull_request", pr],
      ["check_suite", suite],
      ["pull_request_review", review],
      ["issues", closedIssue(url, "2025-07-02T09:00:00Z")],
    ] as const) {
      await send(event, payload);
      await work();
    }

    expect(await ledgerOf(url)).toEqual([["LEDGER#2025-07-02T09:00:00.000Z", "SUCCESS", 1]]);
  });

  it("a failing check run on the linked PR lowers the quality score", async () => {
    const { url } = await awardedTask();
    const n = Number(url.split("/").at(-1));
    const pr: Payload = githubPayload("pull_request", "opened");
    pr.pull_request.number = n + 100_000;
    pr.pull_request.body = `Resolves #${n}`;
    const run: Payload = githubPayload("check_run", "completed");
    run.check_run.conclusion = "failure";
    run.check_run.completed_at = "2025-07-02T08:30:00Z";
    run.check_run.pull_requests = [{ number: n + 100_000, base: { repo: { id: run.repository.id } } }];

    for (const [event, payload] of [
      ["pull_request", pr],
      ["check_run", run],
      ["issues", closedIssue(url, "2025-07-02T09:00:00Z")],
    ] as const) {
      await send(event, payload);
      await work();
    }

    // No merge, failing checks, no review: E = (0 + 0 + 0.5) / 3 → 0.4 + 0.6·E = 0.5.
    expect(await ledgerOf(url)).toEqual([["LEDGER#2025-07-02T09:00:00.000Z", "SUCCESS", 0.5]]);
  });

  it("issues.reopened after an outcome writes a superseding entry; nothing is updated in place", async () => {
    const { url, agentId } = await awardedTask();
    const reopened = issue("reopened", ["agentforge", "cap:python"], Number(url.split("/").at(-1)));
    reopened.issue.updated_at = "2025-07-02T10:00:00Z";

    await send("issues", closedIssue(url, "2025-07-02T09:00:00Z"));
    await work();
    await send("issues", reopened);
    await work();

    const entries = await query(`TASK#${url}`, "LEDGER#");
    expect(entries.map((e) => [e.SK?.S, e.status?.S, e.supersedes?.S])).toEqual([
      ["LEDGER#2025-07-02T09:00:00.000Z", "SUCCESS", undefined],
      ["LEDGER#2025-07-02T10:00:00.000Z", "FAILURE", "2025-07-02T09:00:00.000Z"],
    ]);
    const [profile] = await query(`AGENT#${agentId}`, "PROFILE");
    expect(profile?.performance_history?.M).toMatchObject({
      total_tasks_completed: { N: "1" },
      success_rate: { N: "0" },
    });
  });

  it("out-of-order deliveries are judged by GitHub's timestamps", async () => {
    const { url } = await awardedTask();
    const reopened = issue("reopened", ["agentforge", "cap:python"], Number(url.split("/").at(-1)));
    reopened.issue.updated_at = "2025-07-02T10:00:00Z";

    await send("issues", reopened);
    await work();
    await send("issues", closedIssue(url, "2025-07-02T09:00:00Z"));
    await work();

    expect(await ledgerOf(url)).toEqual([["LEDGER#2025-07-02T10:00:00.000Z", "FAILURE", 0]]);
  });

  it("outcomes for never-awarded tasks and unhandled events are acknowledged, not failed", async () => {
    const payload = issue("opened", ["agentforge", "cap:python"]);
    await send("issues", payload);
    await send("issues", closedIssue(payload.issue.html_url, "2025-07-02T09:00:00Z"));
    await send("star", githubPayload("star", "created"));

    await work();

    expect(await ledgerOf(payload.issue.html_url)).toEqual([]);
    expect(await queue.drain()).toEqual([]);
    expect(await dlqDepth()).toBe(0);
  });

  it("the same delivery sent 3 times in parallel gives one ledger entry and a count of one", async () => {
    const { url, agentId } = await awardedTask();
    const payload = closedIssue(url, "2025-07-02T09:00:00Z");
    const deliveryId = crypto.randomUUID();

    const responses = await Promise.all([1, 2, 3].map(() => send("issues", payload, deliveryId)));
    // Three workers racing, as three Lambda invocations would: one message each.
    const messages = await queue.drain();
    await Promise.all(
      messages.map((m) =>
        worker.handle({
          Records: [
            {
              messageId: m.MessageId ?? "",
              receiptHandle: m.ReceiptHandle ?? "",
              body: m.Body ?? "",
              attributes: {} as SQSEvent["Records"][number]["attributes"],
              messageAttributes: {},
              md5OfBody: "",
              eventSource: "aws:sqs",
              eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:intake",
              awsRegion: "us-east-1",
            },
          ],
        }),
      ),
    );

    expect(responses.map((r) => r.statusCode)).toEqual([202, 202, 202]);
    expect(messages).toHaveLength(3);
    expect(await query(`TASK#${url}`, "LEDGER#")).toHaveLength(1);
    const [profile] = await query(`AGENT#${agentId}`, "PROFILE");
    expect(profile?.performance_history?.M?.total_tasks_completed).toEqual({ N: "1" });
    expect(await query(`DELIVERY#${deliveryId}`, "DELIVERY")).toHaveLength(1);
  });

  async function dlqDepth(): Promise<number> {
    const { Attributes } = await queue.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.dlqUrl,
        AttributeNames: ["ApproximateNumberOfMessages"],
      }),
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  it("a poison message fails only itself: the rest of its batch is processed and it ends in the DLQ", async () => {
    const { url } = await awardedTask();
    const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
    // Fault injection around the real service: one delivery id always throws, as a transient
    // failure that never clears would.
    const webhooks = buildWebhookService(config);
    const poisonId = "poison-delivery";
    const handle = createIntakeBatchHandler({
      webhooks: {
        acceptsEveryRepository: webhooks.acceptsEveryRepository,
        process: (message) =>
          message.delivery_id === poisonId
            ? Promise.reject(new Error("downstream unavailable"))
            : webhooks.process(message),
      },
      logger,
      metrics,
    });
    await queue.client.send(
      new SetQueueAttributesCommand({ QueueUrl: queue.queueUrl, Attributes: { VisibilityTimeout: "1" } }),
    );
    await send("issues", closedIssue(url, "2025-07-02T09:00:00Z"));
    await send("issues", issue("opened", ["agentforge", "cap:go"]), poisonId);
    await queue.client.send(new SendMessageCommand({ QueueUrl: queue.queueUrl, MessageBody: "{not json" }));

    const source = createSqsEventSource({ client: queue.client, queueUrl: queue.queueUrl, handler: handle });
    const first = await source.pollOnce();
    for (let i = 0; i < 20 && (await dlqDepth()) === 0; i++) {
      await new Promise((r) => setTimeout(r, 1100));
      await source.pollOnce();
    }

    expect(first).toEqual({ received: 3, failed: 1 });
    expect(await ledgerOf(url)).toEqual([["LEDGER#2025-07-02T09:00:00.000Z", "SUCCESS", 0.6]]);
    expect(await dlqDepth()).toBe(1);
    expect(await queue.drain()).toEqual([]);
  });

  it("the read API serves the task with its ledger over the same table", async () => {
    const { url } = await awardedTask();
    await send("issues", closedIssue(url, "2025-07-02T09:00:00Z"));
    await work();
    const api = buildRestApi(config);

    const response = await api.handle({
      rawPath: `/tasks/${encodeURIComponent(url)}`,
      headers: { authorization: `Bearer ${API_TOKEN}` },
      requestContext: { http: { method: "GET" } },
    } as never);

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body ?? "{}")).toMatchObject({
      task: { task_id: url, status: "AWARDED", latest_outcome_status: "SUCCESS" },
      award: { bid_amount: 20 },
      ledger: [{ status: "SUCCESS", quality_score: 0.6 }],
    });
  });
});
