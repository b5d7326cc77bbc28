import { DeleteItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import examples from "@octokit/webhooks-examples";
import { beforeAll, describe, expect, it } from "vitest";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import type { IntakeMessage } from "../../src/domain/webhooks/intake-message.js";
import { createWebhookService, type WebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { pullRequestReviewPayload } from "../fixtures/github.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = Record<string, any>;

/** A deep copy of a real GitHub example payload for `event.action`. */
function example(event: string, action: string): Payload {
  const group = (examples as unknown as Array<{ name: string; examples: Payload[] }>).find(
    (e) => e.name === event,
  );
  const found = group?.examples.find((e) => e.action === action);
  if (!found) throw new Error(`no example for ${event}.${action}`);
  return structuredClone(found);
}

let deliveries = 0;
function message(event: string, payload: Payload, delivery_id = `d-${++deliveries}`): IntakeMessage {
  return { delivery_id, event, received_at: new Date().toISOString(), payload };
}

let issueNumbers = 1000;

describe("webhook service: GitHub deliveries to tasks and ledger outcomes (DynamoDB Local)", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;
  let webhooks: WebhookService;
  const now = () => new Date("2025-07-01T10:00:00.000Z");

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table, now);
    webhooks = createWebhookService({
      tasks: services.taskRepo,
      state: createWebhookStateRepository({ service: table.service, deliveryTtlSeconds: 3600, now }),
      marketplaceLabel: "agentforge",
      humanInterventionLabel: "human-intervention",
      bidWindowSeconds: 300,
      now,
    });
  });

  /** An issues.<action> payload for a fresh issue carrying the given labels. */
  function issuePayload(action: string, labels: string[], n = ++issueNumbers): Payload {
    const payload = example("issues", action === "closed" || action === "labeled" ? "reopened" : action);
    payload.action = action;
    payload.issue.number = n;
    payload.issue.html_url = `https://github.com/Codertocat/Hello-World/issues/${n}`;
    payload.issue.labels = labels.map((name, id) => ({ id, name, color: "ededed", default: false }));
    return payload;
  }

  function closed(url: string, at: string, reason: "completed" | "not_planned" = "completed"): IntakeMessage {
    const payload = issuePayload("closed", ["agentforge", "cap:python"], Number(url.split("/").at(-1)));
    payload.issue.state = "closed";
    payload.issue.state_reason = reason;
    payload.issue.closed_at = at;
    payload.issue.updated_at = at;
    return message("issues", payload);
  }

  function reopened(url: string, at: string): IntakeMessage {
    const payload = issuePayload("reopened", ["agentforge", "cap:python"], Number(url.split("/").at(-1)));
    payload.issue.updated_at = at;
    return message("issues", payload);
  }

  /** A task opened from a labelled issue and awarded to a fresh agent at `now`. */
  async function awardedTask(bidAmount = 40) {
    const agent = agentInput();
    await services.agents.register(agent, TEST_OPERATOR);
    const payload = issuePayload("opened", ["agentforge", "cap:python"]);
    await webhooks.process(message("issues", payload));
    const url: string = payload.issue.html_url;
    await services.award({
      task_id: url,
      agent_id: agent.agent_id,
      bid_amount: bidAmount,
      status: "AWARDED",
    });
    return { url, agentId: agent.agent_id };
  }

  async function ledger(url: string) {
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :l)",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${url}` }, ":l": { S: "LEDGER#" } },
        ConsistentRead: true,
      }),
    );
    return Items.map((i) => ({
      sk: i.SK?.S,
      status: i.status?.S,
      quality_score: Number(i.quality_score?.N),
      winning_agent_id: i.winning_agent_id?.S,
      bid_amount: Number(i.bid_amount?.N),
      actual_cost: Number(i.actual_cost?.N),
    }));
  }

  it("issues.opened with the marketplace label creates the task from cap: and budget: labels, once", async () => {
    const payload = issuePayload("opened", ["agentforge", "cap:Python", "cap:testing", "budget:50", "bug"]);

    const first = await webhooks.process(message("issues", payload));
    const again = await webhooks.process(message("issues", payload));
    const record = await services.tasks.get(payload.issue.html_url);

    expect(first).toEqual({
      status: "processed",
      effects: [{ kind: "task_created", task_id: payload.issue.html_url, created: true }],
    });
    expect(again).toMatchObject({ effects: [{ kind: "task_created", created: false }] });
    expect(record.task).toMatchObject({
      status: "OPEN",
      title: payload.issue.title,
      required_capabilities: ["python", "testing"],
      budget: 50,
      bid_deadline: "2025-07-01T10:05:00.000Z",
      repository_id: payload.repository.id,
      issue_node_id: payload.issue.node_id,
    });
  });

  it("issues.labeled adding the marketplace label creates the task; without cap: labels it is ignored", async () => {
    const labeled = issuePayload("labeled", ["agentforge", "cap:go"]);
    labeled.label = { name: "agentforge" };
    const noCaps = issuePayload("opened", ["agentforge"]);

    expect(await webhooks.process(message("issues", labeled))).toMatchObject({
      effects: [{ kind: "task_created", created: true }],
    });
    expect(await webhooks.process(message("issues", noCaps))).toMatchObject({
      effects: [{ kind: "ignored", reason: expect.stringMatching(/no valid cap:<name> label/) }],
    });
  });

  it("issues.closed as completed records SUCCESS with the award's price and the documented quality", async () => {
    const { url, agentId } = await awardedTask(40);

    const result = await webhooks.process(closed(url, "2025-07-01T11:00:00Z"));

    expect(result).toMatchObject({ effects: [{ kind: "outcome_recorded", task_id: url }] });
    expect(await ledger(url)).toEqual([
      {
        sk: "LEDGER#2025-07-01T11:00:00.000Z",
        status: "SUCCESS",
        quality_score: 0.6,
        winning_agent_id: agentId,
        bid_amount: 40,
        actual_cost: 40,
      },
    ]);
    const profile = await services.agents.get(agentId);
    expect(profile.performance_history).toEqual({
      total_tasks_completed: 1,
      success_rate: 1,
      average_cost_per_task: 40,
      average_completion_time_sec: 3600,
    });
  });

  it("issues.closed as not_planned records FAILURE; the human-intervention label records HUMAN_INTERVENTION", async () => {
    const failed = await awardedTask();
    const helped = await awardedTask();
    const label = issuePayload(
      "labeled",
      ["cap:python", "human-intervention"],
      Number(helped.url.split("/").at(-1)),
    );
    label.label = { name: "human-intervention" };
    label.issue.updated_at = "2025-07-01T12:00:00Z";

    await webhooks.process(closed(failed.url, "2025-07-01T11:00:00Z", "not_planned"));
    await webhooks.process(message("issues", label));

    expect((await ledger(failed.url)).map((e) => [e.status, e.quality_score])).toEqual([["FAILURE", 0]]);
    expect((await ledger(helped.url)).map((e) => [e.status, e.quality_score])).toEqual([
      ["HUMAN_INTERVENTION", 0.1],
    ]);
  });

  it("a merged PR that fixes the issue, green checks and an approval raise quality to 1", async () => {
    const { url } = await awardedTask();
    const n = Number(url.split("/").at(-1));
    const pr = example("pull_request", "closed");
    pr.pull_request.number = n + 100_000;
    pr.pull_request.body = `Implements the thing.\n\nFixes #${n}`;
    pr.pull_request.merged = true;
    pr.pull_request.merged_at = "2025-07-01T10:50:00Z";
    const suite = example("check_suite", "completed");
    suite.check_suite.conclusion = "success";
    suite.check_suite.updated_at = "2025-07-01T10:40:00Z";
    suite.check_suite.pull_requests = [
      { number: pr.pull_request.number, base: { repo: { id: suite.repository.id } } },
    ];
    const review: Payload = pullRequestReviewPayload({ submittedAt: "2025-07-01T10:45:00Z" });
    review.pull_request.number = n + 100_000;
    review.pull_request.body = `Closes Codertocat/Hello-World#${n}`;

    await webhooks.process(message("pull_request", pr));
    await webhooks.process(message("check_suite", suite));
    await webhooks.process(message("pull_request_review", review));
    await webhooks.process(closed(url, "2025-07-01T11:00:00Z"));

    expect((await ledger(url)).map((e) => [e.status, e.quality_score])).toEqual([["SUCCESS", 1]]);
  });

  it("evidence delivered after the outcome, but timestamped before it, supersedes with a corrected quality", async () => {
    const { url, agentId } = await awardedTask();
    const n = Number(url.split("/").at(-1));
    await webhooks.process(closed(url, "2025-07-01T11:00:00Z"));
    const run = example("check_run", "completed");
    run.check_run.conclusion = "failure";
    run.check_run.completed_at = "2025-07-01T10:30:00Z";
    const pr = example("pull_request", "opened");
    pr.pull_request.number = n + 100_000;
    pr.pull_request.body = `fixes #${n}`;
    run.check_run.pull_requests = [
      { number: pr.pull_request.number, base: { repo: { id: run.repository.id } } },
    ];

    await webhooks.process(message("pull_request", pr));
    await webhooks.process(message("check_run", run));

    expect(await ledger(url)).toMatchObject([
      { sk: "LEDGER#2025-07-01T11:00:00.000Z", status: "SUCCESS", quality_score: 0.6 },
      { sk: "LEDGER#2025-07-01T11:00:00.001Z", status: "SUCCESS", quality_score: 0.5 },
    ]);
    expect((await services.agents.get(agentId)).performance_history.total_tasks_completed).toBe(1);
  });

  it("issues.reopened after an outcome supersedes it; closing again records a new SUCCESS", async () => {
    const { url, agentId } = await awardedTask();

    await webhooks.process(closed(url, "2025-07-01T11:00:00Z"));
    await webhooks.process(reopened(url, "2025-07-01T12:00:00Z"));
    await webhooks.process(closed(url, "2025-07-01T13:00:00Z"));

    expect((await ledger(url)).map((e) => [e.sk, e.status, e.quality_score])).toEqual([
      ["LEDGER#2025-07-01T11:00:00.000Z", "SUCCESS", 0.6],
      ["LEDGER#2025-07-01T12:00:00.000Z", "FAILURE", 0],
      ["LEDGER#2025-07-01T13:00:00.000Z", "SUCCESS", 0.48],
    ]);
    const history = (await services.agents.get(agentId)).performance_history;
    expect(history).toMatchObject({ total_tasks_completed: 1, success_rate: 1 });
  });

  it("out-of-order deliveries end in the outcome GitHub's timestamps imply", async () => {
    const { url, agentId } = await awardedTask();

    // Real order: closed 11:00, reopened 12:00. Delivered reopened first, then a stale close.
    await webhooks.process(reopened(url, "2025-07-01T12:00:00Z"));
    expect(await ledger(url)).toEqual([]);
    await webhooks.process(closed(url, "2025-07-01T11:00:00Z"));

    expect((await ledger(url)).map((e) => [e.sk, e.status])).toEqual([
      ["LEDGER#2025-07-01T12:00:00.000Z", "FAILURE"],
    ]);
    expect((await services.agents.get(agentId)).performance_history.success_rate).toBe(0);
  });

  it("outcomes for tasks never awarded, and for issues that are not tasks, are acknowledged with a reason", async () => {
    const payload = issuePayload("opened", ["agentforge", "cap:python"]);
    await webhooks.process(message("issues", payload));
    const stranger = issuePayload("opened", ["bug"]);

    const unawarded = await webhooks.process(closed(payload.issue.html_url, "2025-07-01T11:00:00Z"));
    const notATask = await webhooks.process(closed(stranger.issue.html_url, "2025-07-01T11:00:00Z"));

    expect(unawarded).toMatchObject({
      status: "processed",
      effects: [{ kind: "ignored", reason: expect.stringMatching(/never awarded/) }],
    });
    expect(notATask).toMatchObject({ effects: [{ kind: "ignored", reason: "not a marketplace task" }] });
    expect(await ledger(payload.issue.html_url)).toEqual([]);
  });

  it("the same delivery three times in parallel gives one ledger entry and a count of one", async () => {
    const { url, agentId } = await awardedTask();
    const delivery = closed(url, "2025-07-01T11:00:00Z");

    const results = await Promise.all([1, 2, 3].map(() => webhooks.process(structuredClone(delivery))));

    expect(results.filter((r) => r.status === "processed")).toHaveLength(1);
    expect(results.filter((r) => r.status === "duplicate")).toHaveLength(2);
    expect(await ledger(url)).toHaveLength(1);
    expect((await services.agents.get(agentId)).performance_history.total_tasks_completed).toBe(1);
    expect(await webhooks.process(structuredClone(delivery))).toEqual({ status: "duplicate", effects: [] });
  });

  it("unknown events are ignored and malformed payloads rejected, both acknowledged", async () => {
    expect(await webhooks.process(message("star", example("star", "created")))).toEqual({
      status: "processed",
      effects: [{ kind: "ignored", reason: "event star is not handled" }],
    });
    expect(await webhooks.process(message("issues", { action: "closed" }))).toMatchObject({
      status: "rejected",
      reason: expect.stringMatching(/issues payload is malformed/),
    });
  });

  function checkRun(prNumber: number, conclusion: string, at: string): IntakeMessage {
    const run = example("check_run", "completed");
    run.check_run.conclusion = conclusion;
    run.check_run.completed_at = at;
    run.check_run.pull_requests = [{ number: prNumber, base: { repo: { id: run.repository.id } } }];
    return message("check_run", run);
  }

  function linkingPr(n: number): IntakeMessage {
    const pr = example("pull_request", "opened");
    pr.pull_request.number = n + 100_000;
    pr.pull_request.body = `fixes #${n}`;
    return message("pull_request", pr);
  }

  it("different deliveries for one task racing each other still end at the outcome all evidence implies", async () => {
    for (let round = 0; round < 4; round++) {
      const { url } = await awardedTask();
      const n = Number(url.split("/").at(-1));
      await webhooks.process(linkingPr(n));

      await Promise.all([
        webhooks.process(closed(url, "2025-07-01T11:00:00Z")),
        webhooks.process(checkRun(n + 100_000, "success", "2025-07-01T10:30:00Z")),
      ]);

      const entries = await ledger(url);
      // closed as completed + one green check, no merge, no review: E = (0 + 1 + 0.5) / 3 → 0.7.
      expect(entries.at(-1)).toMatchObject({ status: "SUCCESS", quality_score: 0.7 });
    }
  });

  it("a check that finishes before its pull request is linked still counts once the link arrives", async () => {
    const { url } = await awardedTask();
    const n = Number(url.split("/").at(-1));

    const early = await webhooks.process(checkRun(n + 100_000, "failure", "2025-07-01T10:30:00Z"));
    await webhooks.process(closed(url, "2025-07-01T11:00:00Z"));
    await webhooks.process(linkingPr(n));

    expect(early).toMatchObject({
      effects: [{ kind: "ignored", reason: expect.stringMatching(/evidence kept/) }],
    });
    expect((await ledger(url)).map((e) => [e.status, e.quality_score])).toEqual([
      ["SUCCESS", 0.6],
      ["SUCCESS", 0.5],
    ]);
  });

  it("while the human-intervention label is on, closing as completed stays HUMAN_INTERVENTION", async () => {
    const helped = await awardedTask();
    const unhelped = await awardedTask();
    const label = (url: string, action: "labeled" | "unlabeled", at: string) => {
      const payload = issuePayload(action, ["cap:python"], Number(url.split("/").at(-1)));
      payload.label = { name: "human-intervention" };
      payload.issue.updated_at = at;
      return message("issues", payload);
    };

    await webhooks.process(label(helped.url, "labeled", "2025-07-01T10:30:00Z"));
    await webhooks.process(closed(helped.url, "2025-07-01T11:00:00Z"));
    await webhooks.process(label(unhelped.url, "labeled", "2025-07-01T10:30:00Z"));
    await webhooks.process(label(unhelped.url, "unlabeled", "2025-07-01T10:40:00Z"));
    await webhooks.process(closed(unhelped.url, "2025-07-01T11:00:00Z"));

    expect((await ledger(helped.url)).map((e) => e.status)).toEqual(["HUMAN_INTERVENTION"]);
    expect((await ledger(unhelped.url)).map((e) => e.status)).toEqual(["HUMAN_INTERVENTION", "SUCCESS"]);
  });

  it("a permanent problem (the awardee has no profile) is recorded on the delivery and acknowledged", async () => {
    const payload = issuePayload("opened", ["agentforge", "cap:python"]);
    await webhooks.process(message("issues", payload));
    const url: string = payload.issue.html_url;
    await services.agents.register(agentInput({ agent_id: "deleted-agent" }), TEST_OPERATOR);
    await services.award({
      task_id: url,
      agent_id: "deleted-agent",
      bid_amount: 5,
      status: "AWARDED",
    });
    // Ops removed the profile after the award (there is no API for it: a raw delete).
    await table.raw.send(
      new DeleteItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: "AGENT#deleted-agent" }, SK: { S: "PROFILE" } },
      }),
    );
    const delivery = closed(url, "2025-07-01T11:00:00Z");

    const result = await webhooks.process(delivery);

    expect(result).toEqual({ status: "rejected", reason: "agent deleted-agent not found" });
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": { S: `DELIVERY#${delivery.delivery_id}` } },
      }),
    );
    expect(Items[0]).toMatchObject({
      result: { S: "rejected" },
      reason: { S: "agent deleted-agent not found" },
    });
    expect(await webhooks.process(delivery)).toEqual({ status: "duplicate", effects: [] });
  });
});
