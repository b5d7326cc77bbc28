import { createHash, randomUUID } from "node:crypto";
import { type AttributeValue, GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { buildIntakeWorker, buildReceiverDeps } from "../../functions/shared/container.js";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import { type Config, loadConfig } from "../../src/config.js";
import type { IntakeMessage } from "../../src/domain/webhooks/intake-message.js";
import { parseAllowedRepositories } from "../../src/domain/webhooks/trust.js";
import { createWebhookService, type WebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { createSqsEventSource } from "../../src/local/sqs-event-source.js";
import type { TaskRepository } from "../../src/ports/task-repository.js";
import type { WebhookStateRepository } from "../../src/ports/webhook-state.js";
import {
  githubDelivery,
  githubPayload,
  issuesClosedPayload,
  MAINTAINER,
  pullRequestReviewPayload,
  TEST_WEBHOOK_SECRET,
} from "../fixtures/github.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { type TestQueue, useTestQueue } from "../helpers/sqs.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

const HOME = "Codertocat/Hello-World";
/** The examples' repository id (Codertocat/Hello-World). */
const HOME_REPO_ID = 186_853_002;
const ALLOWED = "Codertocat/Hello-World,octo-org/*";

/** Raw reads of the table: what the tests prove was, or was not, written. */
function rawReader(table: TestTable) {
  async function query(pk: string, skPrefix = ""): Promise<Record<string, AttributeValue>[]> {
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: skPrefix ? "PK = :pk AND begins_with(SK, :sk)" : "PK = :pk",
        ExpressionAttributeValues: { ":pk": { S: pk }, ...(skPrefix ? { ":sk": { S: skPrefix } } : {}) },
        ConsistentRead: true,
      }),
    );
    return Items;
  }
  async function item(pk: string, sk: string): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: pk }, SK: { S: sk } },
        ConsistentRead: true,
      }),
    );
    return Item;
  }
  return {
    query,
    item,
    ledger: async (url: string) =>
      (await query(`TASK#${url}`, "LEDGER#")).map((i) => [i.SK?.S, i.status?.S, Number(i.quality_score?.N)]),
    /** The pull request's stored item: its linked tasks and the evidence kept for it. */
    pullRequest: (repoId: number, n: number) => item(`PR#${repoId}#${n}`, "PR_LINK"),
  };
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

describe("GitHub evidence only from those who may give it (webhook service, DynamoDB Local)", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;
  let state: WebhookStateRepository;
  let webhooks: WebhookService;
  let raw: ReturnType<typeof rawReader>;
  let issueNumber = 3000;
  const now = () => new Date("2025-07-01T10:00:00.000Z");

  function serviceWith(overrides: { tasks?: TaskRepository; state?: WebhookStateRepository } = {}) {
    return createWebhookService({
      tasks: overrides.tasks ?? services.taskRepo,
      state: overrides.state ?? state,
      marketplaceLabel: "agentforge",
      humanInterventionLabel: "human-intervention",
      bidWindowSeconds: 300,
      allowedRepositories: parseAllowedRepositories(ALLOWED),
      trustedCheckApps: ["github-actions"],
      now,
    });
  }

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table, now);
    state = createWebhookStateRepository({ service: table.service, deliveryTtlSeconds: 3600, now });
    webhooks = serviceWith();
    raw = rawReader(table);
  });

  /** A delivery as the receiver queues it: with the SHA-256 of the body GitHub signed. */
  function message(event: string, payload: Payload, deliveryId: string = randomUUID()): IntakeMessage {
    return {
      delivery_id: deliveryId,
      event,
      received_at: now().toISOString(),
      body_sha256: sha256(JSON.stringify(payload)),
      payload,
    };
  }

  /** A labelled issues.opened payload for a fresh issue in `fullName`. */
  function openedIssue(fullName = HOME, n = ++issueNumber): Payload {
    const payload: Payload = githubPayload("issues", "opened");
    payload.issue.number = n;
    payload.issue.html_url = `https://github.com/${fullName}/issues/${n}`;
    payload.issue.labels = ["agentforge", "cap:python"].map((name, id) => ({ id, name, color: "ededed" }));
    payload.repository.full_name = fullName;
    payload.repository.name = fullName.split("/")[1];
    return payload;
  }

  function closed(url: string, at = "2025-07-01T11:00:00Z"): IntakeMessage {
    const payload: Payload = issuesClosedPayload("completed", at);
    payload.issue.number = Number(url.split("/").at(-1));
    payload.issue.html_url = url;
    payload.issue.updated_at = at;
    return message("issues", payload);
  }

  async function awardedTask() {
    const agent = agentInput();
    await services.agents.register(agent, TEST_OPERATOR);
    const payload = openedIssue();
    expect(await webhooks.process(message("issues", payload))).toMatchObject({ status: "processed" });
    const url: string = payload.issue.html_url;
    await services.award({ task_id: url, agent_id: agent.agent_id, bid_amount: 10, status: "AWARDED" });
    return { url, n: payload.issue.number as number };
  }

  /** An open pull request of the home repository whose body closes issue `n`. */
  function linkingPr(n: number): Payload {
    const pr: Payload = githubPayload("pull_request", "opened");
    pr.pull_request.number = n + 100_000;
    pr.pull_request.body = `fixes #${n}`;
    return pr;
  }

  describe("GITHUB_ALLOWED_REPOSITORIES", () => {
    it("an issue from a repository outside the allowlist makes no task; the delivery is recorded as ignored", async () => {
      const payload = openedIssue("someone-else/project");
      const delivery = message("issues", payload);

      const result = await webhooks.process(delivery);

      const reason = "repository someone-else/project is not in GITHUB_ALLOWED_REPOSITORIES";
      expect(result).toEqual({ status: "ignored", reason });
      expect(await raw.query(`TASK#${payload.issue.html_url}`)).toEqual([]);
      expect(await raw.item(`DELIVERY#${delivery.delivery_id}`, "DELIVERY")).toMatchObject({
        result: { S: "ignored" },
        reason: { S: reason },
      });
      // A redelivery is a duplicate, and still writes nothing.
      expect(await webhooks.process(delivery)).toEqual({ status: "duplicate", effects: [] });
      expect(await raw.query(`TASK#${payload.issue.html_url}`)).toEqual([]);
    });

    it("owner/* allows every repository of that owner, and names match in any letter case", async () => {
      const wildcard = openedIssue("Octo-Org/Sandbox");
      const recased = openedIssue("CODERTOCAT/hello-WORLD");
      const lookalike = openedIssue("octo-org-evil/sandbox");

      expect(await webhooks.process(message("issues", wildcard))).toMatchObject({
        status: "processed",
        effects: [{ kind: "task_created", created: true }],
      });
      expect(await webhooks.process(message("issues", recased))).toMatchObject({
        status: "processed",
        effects: [{ kind: "task_created", created: true }],
      });
      expect(await webhooks.process(message("issues", lookalike))).toMatchObject({ status: "ignored" });
      expect(await raw.query(`TASK#${wildcard.issue.html_url}`, "TASK")).toHaveLength(1);
      expect(await raw.query(`TASK#${recased.issue.html_url}`, "TASK")).toHaveLength(1);
      expect(await raw.query(`TASK#${lookalike.issue.html_url}`)).toEqual([]);
    });

    it("a closed issue from outside the allowlist gives a task no outcome", async () => {
      const { url } = await awardedTask();
      const intruder = closed(url);
      intruder.payload.repository = { ...(intruder.payload.repository as object), full_name: "evil/clone" };
      intruder.body_sha256 = sha256(JSON.stringify(intruder.payload));

      expect(await webhooks.process(intruder)).toMatchObject({ status: "ignored" });
      expect(await raw.ledger(url)).toEqual([]);
    });
  });

  describe("closing references", () => {
    it("a cross-repository closing reference gives no evidence: no link, no merge in the quality", async () => {
      const { url, n } = await awardedTask();
      // A merged pull request in another (allowed) repository that claims to fix the task's issue.
      const foreign: Payload = githubPayload("pull_request", "closed");
      foreign.repository = { ...foreign.repository, id: 999_001, full_name: "octo-org/fork" };
      foreign.pull_request.number = n + 200_000;
      foreign.pull_request.html_url = `https://github.com/octo-org/fork/pull/${n + 200_000}`;
      foreign.pull_request.body = `Fixes ${HOME}#${n} and https://github.com/${HOME}/issues/${n}`;
      foreign.pull_request.merged = true;
      foreign.pull_request.merged_at = "2025-07-01T10:50:00Z";

      const result = await webhooks.process(message("pull_request", foreign));
      await webhooks.process(closed(url));

      expect(result).toMatchObject({
        status: "processed",
        effects: [
          { kind: "ignored", reason: expect.stringMatching(/^closing references outside octo-org\/fork/) },
          { kind: "ignored", reason: expect.stringMatching(/closes no known issue yet/) },
        ],
      });
      const stored = await raw.pullRequest(999_001, n + 200_000);
      expect(stored?.task_ids).toEqual({ L: [] });
      const [task] = await raw.query(`TASK#${url}`, "TASK");
      expect(task?.evidence?.M?.merges).toEqual({ M: {} });
      // Closed as completed with no merge, checks or reviews: 0.4 + 0.6 · (0 + 0.5 + 0.5) / 3.
      expect(await raw.ledger(url)).toEqual([["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.6]]);
    });
  });

  describe("reviews", () => {
    it("reviews from a CONTRIBUTOR, from NONE, and the author's own as OWNER do not raise quality", async () => {
      const { url, n } = await awardedTask();
      await webhooks.process(message("pull_request", linkingPr(n)));
      const reviews = [
        pullRequestReviewPayload({ association: "CONTRIBUTOR", reviewer: { login: "drive-by", id: 7 } }),
        pullRequestReviewPayload({ association: "NONE", reviewer: { login: "stranger", id: 8 } }),
        // The example pull request's author is Codertocat (21031067), here approving their own work.
        pullRequestReviewPayload({ association: "OWNER", reviewer: { login: "Codertocat", id: 21031067 } }),
      ].map((review: Payload, i) => {
        review.review.id = 900_000 + n * 10 + i;
        review.review.submitted_at = "2025-07-01T10:45:00Z";
        review.pull_request.number = n + 100_000;
        review.pull_request.body = `fixes #${n}`;
        return review;
      });

      const results = [];
      for (const review of reviews)
        results.push(await webhooks.process(message("pull_request_review", review)));
      await webhooks.process(closed(url));

      expect(results.map((r) => (r.status === "processed" ? r.effects.map((e) => e.kind) : r))).toEqual([
        ["pr_linked", "outcome_unchanged", "ignored"],
        ["pr_linked", "outcome_unchanged", "ignored"],
        ["pr_linked", "outcome_unchanged", "ignored"],
      ]);
      const stored = await raw.pullRequest(HOME_REPO_ID, n + 100_000);
      expect(stored?.evidence?.M?.reviews).toEqual({ M: {} });
      const [task] = await raw.query(`TASK#${url}`, "TASK");
      expect(task?.evidence?.M?.reviews).toEqual({ M: {} });
      expect(await raw.ledger(url)).toEqual([["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.6]]);
    });

    it("a MEMBER's approval of someone else's pull request does raise it", async () => {
      const { url, n } = await awardedTask();
      await webhooks.process(message("pull_request", linkingPr(n)));
      const review: Payload = pullRequestReviewPayload({ submittedAt: "2025-07-01T10:45:00Z" });
      review.review.id = 800_000 + n;
      review.pull_request.number = n + 100_000;

      await webhooks.process(message("pull_request_review", review));
      await webhooks.process(closed(url));

      const [task] = await raw.query(`TASK#${url}`, "TASK");
      expect(task?.evidence?.M?.reviews?.M?.[String(800_000 + n)]?.M?.reviewer).toEqual({
        S: MAINTAINER.login,
      });
      // 0.4 + 0.6 · (0 + 0.5 + 1) / 3
      expect(await raw.ledger(url)).toEqual([["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.7]]);
    });
  });

  describe("GITHUB_TRUSTED_CHECK_APPS", () => {
    function checkRun(prNumber: number, slug: string): Payload {
      const run: Payload = githubPayload("check_run", "completed");
      run.check_run.name = `build-${slug}`;
      run.check_run.app = { ...run.check_run.app, slug };
      run.check_run.conclusion = "success";
      run.check_run.completed_at = "2025-07-01T10:30:00Z";
      run.check_run.pull_requests = [{ ...run.check_run.pull_requests[0], number: prNumber }];
      return run;
    }

    it("a check from an untrusted app does not count; one from a trusted app does", async () => {
      const untrusted = await awardedTask();
      const trusted = await awardedTask();
      for (const { n } of [untrusted, trusted]) await webhooks.process(message("pull_request", linkingPr(n)));

      const refused = await webhooks.process(
        message("check_run", checkRun(untrusted.n + 100_000, "sketchy-ci")),
      );
      await webhooks.process(message("check_run", checkRun(trusted.n + 100_000, "github-actions")));
      for (const { url } of [untrusted, trusted]) await webhooks.process(closed(url));

      expect(refused).toMatchObject({
        status: "processed",
        effects: [{ kind: "ignored", reason: expect.stringMatching(/app sketchy-ci does not count/) }],
      });
      expect((await raw.pullRequest(HOME_REPO_ID, untrusted.n + 100_000))?.evidence?.M?.checks).toEqual({
        M: {},
      });
      expect(await raw.ledger(untrusted.url)).toEqual([["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.6]]);
      // One green check: 0.4 + 0.6 · (0 + 1 + 0.5) / 3
      expect(await raw.ledger(trusted.url)).toEqual([["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.7]]);
    });
  });

  describe("body-hash dedupe", () => {
    it("the same body under a new delivery id is a duplicate and writes nothing", async () => {
      const { url } = await awardedTask();
      const original = closed(url);
      expect(await webhooks.process(original)).toMatchObject({ status: "processed" });
      const before = await raw.query(`TASK#${url}`);

      const replay = { ...structuredClone(original), delivery_id: randomUUID() };
      const result = await webhooks.process(replay);

      expect(result).toEqual({ status: "duplicate", effects: [], duplicate_of: original.delivery_id });
      expect(await raw.item(`DELIVERY#${replay.delivery_id}`, "DELIVERY")).toBeUndefined();
      expect(await raw.query(`TASK#${url}`)).toEqual(before);
      expect(await raw.item(`DELIVERY_BODY#${original.body_sha256}`, "DELIVERY_BODY")).toMatchObject({
        type: { S: "WEBHOOK_BODY" },
        delivery_id: { S: original.delivery_id },
        event: { S: "issues" },
        expires_at: { N: String(Math.floor(now().getTime() / 1000) + 3600) },
      });
    });

    it("a delivery that failed half-way claims nothing: its redelivery (same id) is processed", async () => {
      const { url } = await awardedTask();
      const delivery = closed(url);
      // The outcome is written, then the worker dies before it can remember the delivery.
      const crashing = serviceWith({
        state: {
          ...state,
          remember: () => Promise.reject(new Error("Lambda timed out")),
        },
      });

      await expect(crashing.process(structuredClone(delivery))).rejects.toThrow("Lambda timed out");
      expect(await raw.item(`DELIVERY#${delivery.delivery_id}`, "DELIVERY")).toBeUndefined();
      expect(await raw.item(`DELIVERY_BODY#${delivery.body_sha256}`, "DELIVERY_BODY")).toBeUndefined();

      const redelivered = await webhooks.process(structuredClone(delivery));

      expect(redelivered).toEqual({
        status: "processed",
        effects: [{ kind: "outcome_unchanged", task_id: url }],
      });
      expect(await raw.ledger(url)).toEqual([["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.6]]);
      expect(await raw.item(`DELIVERY#${delivery.delivery_id}`, "DELIVERY")).toMatchObject({
        result: { S: "processed" },
        body_sha256: { S: delivery.body_sha256 },
      });
      expect(await raw.item(`DELIVERY_BODY#${delivery.body_sha256}`, "DELIVERY_BODY")).toMatchObject({
        delivery_id: { S: delivery.delivery_id },
      });
    });

    it("a failure after the evidence but before the ledger write, then the same id again, records the outcome once", async () => {
      const { url } = await awardedTask();
      const delivery = closed(url);
      const failing = serviceWith({
        tasks: {
          ...services.taskRepo,
          recordOutcome: () => Promise.reject(new Error("ProvisionedThroughputExceeded")),
        },
      });

      await expect(failing.process(structuredClone(delivery))).rejects.toThrow(
        "ProvisionedThroughputExceeded",
      );
      expect(await raw.ledger(url)).toEqual([]);

      expect(await webhooks.process(structuredClone(delivery))).toMatchObject({
        status: "processed",
        effects: [{ kind: "outcome_recorded", task_id: url }],
      });
      expect(await raw.ledger(url)).toEqual([["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.6]]);
      expect(await webhooks.process(structuredClone(delivery))).toEqual({ status: "duplicate", effects: [] });
    });

    it("while the first delivery of a body has not finished, another id with that body still runs", async () => {
      const { url } = await awardedTask();
      const first = closed(url);
      const crashing = serviceWith({
        state: { ...state, remember: () => Promise.reject(new Error("crash")) },
      });
      await expect(crashing.process(structuredClone(first))).rejects.toThrow("crash");

      // Nothing was claimed, so nothing is lost if the first one never comes back.
      const twin = { ...structuredClone(first), delivery_id: randomUUID() };
      expect(await webhooks.process(twin)).toMatchObject({ status: "processed" });
      // Now the body is claimed by the twin; the first id, retried, is a duplicate of it.
      expect(await webhooks.process(structuredClone(first))).toEqual({
        status: "duplicate",
        effects: [],
        duplicate_of: twin.delivery_id,
      });
      expect(await raw.ledger(url)).toHaveLength(1);
    });

    it("parallel deliveries of one body under different ids: one is processed, the rest are duplicates", async () => {
      const { url } = await awardedTask();
      const delivery = closed(url);
      const copies = [1, 2, 3].map(() => ({ ...structuredClone(delivery), delivery_id: randomUUID() }));

      const results = await Promise.all(copies.map((copy) => webhooks.process(copy)));

      expect(results.filter((r) => r.status === "processed")).toHaveLength(1);
      expect(results.filter((r) => r.status === "duplicate")).toHaveLength(2);
      expect(await raw.ledger(url)).toHaveLength(1);
      const remembered = await Promise.all(
        copies.map((copy) => raw.item(`DELIVERY#${copy.delivery_id}`, "DELIVERY")),
      );
      expect(remembered.filter(Boolean)).toHaveLength(1);
    });
  });
});

describe("GitHub evidence only from those who may give it (HTTP → queue → worker, end to end)", () => {
  let table: TestTable;
  let queue: TestQueue;
  let config: Config;
  let receiver: ReturnType<typeof buildReceiverDeps>;
  let worker: ReturnType<typeof buildIntakeWorker>;
  let raw: ReturnType<typeof rawReader>;

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    table = await useTestTable();
    queue = await useTestQueue("trust-intake");
    config = loadConfig({
      AGENTFORGE_LOCAL: "true",
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      SQS_ENDPOINT: queue.endpoint,
      INTAKE_QUEUE_URL: queue.queueUrl,
      GITHUB_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      GITHUB_ALLOWED_REPOSITORIES: "codertocat/*",
      GITHUB_TRUSTED_CHECK_APPS: "github-actions",
    });
    receiver = buildReceiverDeps(config);
    worker = buildIntakeWorker(config);
    raw = rawReader(table);
  });

  const work = () =>
    createSqsEventSource({ client: queue.client, queueUrl: queue.queueUrl, handler: worker.handle }).drain();

  it("an issue from a repository outside the allowlist is answered 202 and makes no task", async () => {
    const payload: Payload = githubPayload("issues", "opened");
    payload.issue.html_url = "https://github.com/someone-else/project/issues/1";
    payload.issue.labels = [
      { id: 1, name: "agentforge" },
      { id: 2, name: "cap:python" },
    ];
    payload.repository.full_name = "someone-else/project";
    const delivery = githubDelivery({ event: "issues", payload });

    const response = await receiver.receive(delivery.event);
    await work();

    expect(response.statusCode).toBe(202);
    expect(await raw.query(`TASK#${payload.issue.html_url}`)).toEqual([]);
    expect(await raw.item(`DELIVERY#${delivery.deliveryId}`, "DELIVERY")).toMatchObject({
      result: { S: "ignored" },
      reason: { S: "repository someone-else/project is not in GITHUB_ALLOWED_REPOSITORIES" },
    });
  });

  it("a captured body replayed under a new X-GitHub-Delivery is answered 202 and is a duplicate", async () => {
    const payload: Payload = githubPayload("issues", "opened");
    payload.issue.number = 4242;
    payload.issue.html_url = `https://github.com/${HOME}/issues/4242`;
    payload.issue.labels = [
      { id: 1, name: "agentforge" },
      { id: 2, name: "cap:python" },
    ];
    const original = githubDelivery({ event: "issues", payload });
    // Same bytes, same signature; only the unsigned header changes.
    const replay = githubDelivery({ event: "issues", payload });

    expect((await receiver.receive(original.event)).statusCode).toBe(202);
    await work();
    const [task] = await raw.query(`TASK#${payload.issue.html_url}`, "TASK");
    expect((await receiver.receive(replay.event)).statusCode).toBe(202);
    await work();

    expect(replay.rawBody).toBe(original.rawBody);
    expect(replay.deliveryId).not.toBe(original.deliveryId);
    expect(await raw.query(`TASK#${payload.issue.html_url}`, "TASK")).toEqual([task]);
    expect(await raw.item(`DELIVERY#${replay.deliveryId}`, "DELIVERY")).toBeUndefined();
    expect(await raw.item(`DELIVERY_BODY#${sha256(original.rawBody)}`, "DELIVERY_BODY")).toMatchObject({
      delivery_id: { S: original.deliveryId },
    });
    // GitHub's own redelivery keeps the delivery id: still a duplicate, as before.
    expect((await receiver.receive(original.event)).statusCode).toBe(202);
    await work();
    expect(await raw.query(`TASK#${payload.issue.html_url}`, "TASK")).toEqual([task]);
  });
});
