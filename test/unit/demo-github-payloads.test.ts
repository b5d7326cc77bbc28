import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { webhookHeaders } from "../../src/cli/webhook-delivery.js";
import {
  checkSuiteCompletedPayload,
  type IssueSpec,
  issueClosedPayload,
  issueOpenedPayload,
  issueUrl,
  type PullRequestSpec,
  pullRequestMergedPayload,
  pullRequestReviewPayload,
  SAMPLE_WEBHOOKS,
} from "../../src/demo/github-payloads.js";
import { desiredOutcome, emptyEvidence, mergeEvidence } from "../../src/domain/tasks/evidence.js";
import { type IntakeMessage, intakeMessageSchema } from "../../src/domain/webhooks/intake-message.js";
import { type Intent, interpretDelivery } from "../../src/domain/webhooks/interpret.js";
import { createWebhookReceiver } from "../../src/http/webhook-receiver.js";
import { DEFAULT_WEBHOOK_MAX_BODY_BYTES } from "../../src/http/webhook-request.js";
import { createObservability } from "../../src/observability.js";
import { apiGatewayEvent } from "../fixtures/github.js";

const SECRET = "demo-payloads-secret";
const INTERPRET = { marketplaceLabel: "agentforge", humanInterventionLabel: "human-intervention" };

const repository = { id: 424242, owner: "agentforge-demo", name: "run-0a1b2c3d" };
const issue: IssueSpec = {
  repository,
  number: 1,
  title: "Add retry with backoff",
  labels: ["agentforge", "cap:typescript", "cap:demo-0a1b2c3d", "budget:100"],
  body: "Retry transient failures.",
  author: "octocat",
  openedAt: new Date("2025-07-01T12:00:00.250Z"),
};
const pr: PullRequestSpec = {
  repository,
  number: 2,
  title: "Retry transient failures",
  body: "Adds backoff.\n\nFixes #1",
  author: "demo-0a1b2c3d-frugal",
  branch: "agentforge/issue-1",
  headSha: "6dcb09b5b57875f334f61aebed695e2e4193db5e",
  openedAt: new Date("2025-07-01T12:10:00Z"),
};
const TASK_ID = "https://github.com/agentforge-demo/run-0a1b2c3d/issues/1";
const PR_REF = { repoId: repository.id, number: 2 };

/**
 * What the intake worker does with a delivery built here, signed as the demo and the ops CLI sign it,
 * after the real receiver verified, checked and slimmed it: the queued message must pass the worker's own schema, then become these intents.
 */
async function intentsOf(event: string, payload: Record<string, unknown>): Promise<Intent[]> {
  const queued: IntakeMessage[] = [];
  const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
  const receiver = createWebhookReceiver({
    secret: async () => SECRET,
    queue: { send: async (message) => void queued.push(message) },
    maxBodyBytes: DEFAULT_WEBHOOK_MAX_BODY_BYTES,
    logger,
    metrics,
  });
  const body = JSON.stringify(payload);
  const headers = webhookHeaders(SECRET, Buffer.from(body), event, randomUUID());
  const response = await receiver.receive(apiGatewayEvent({ body, headers }));
  expect(response.statusCode, String(response.body)).toBe(202);
  expect(queued).toHaveLength(1);
  const message = intakeMessageSchema.parse(queued[0]);
  expect(message.event).toBe(event);
  return interpretDelivery(message.event, message.payload, INTERPRET);
}

describe("demo GitHub payloads through the real receiver and worker interpretation", () => {
  it("issues.opened becomes a task with the cap: labels and the budget", async () => {
    expect(await intentsOf("issues", issueOpenedPayload(issue))).toEqual([
      {
        kind: "create_task",
        task: {
          task_id: TASK_ID,
          title: "Add retry with backoff",
          required_capabilities: ["typescript", "demo-0a1b2c3d"],
          budget: 100,
          repository_id: repository.id,
          issue_node_id: expect.any(String),
          ignored_labels: [],
        },
      },
    ]);
    expect(issueUrl(issue)).toBe(TASK_ID);
  });

  it("issues.closed as completed is a completed close at closed_at, in GitHub's whole seconds", async () => {
    const closedAt = new Date("2025-07-01T13:00:07.900Z");
    expect(await intentsOf("issues", issueClosedPayload(issue, { closedAt, closedBy: "octocat" }))).toEqual([
      {
        kind: "evidence",
        taskIds: [TASK_ID],
        patch: { lifecycle: [{ kind: "closed_completed", at: "2025-07-01T13:00:07.000Z" }] },
      },
    ]);
  });

  it("issues.closed as not planned is a not-planned close", async () => {
    const payload = issueClosedPayload(issue, {
      closedAt: new Date("2025-07-01T13:00:00Z"),
      closedBy: "octocat",
      stateReason: "not_planned",
    });
    expect(await intentsOf("issues", payload)).toMatchObject([
      { kind: "evidence", patch: { lifecycle: [{ kind: "closed_not_planned" }] } },
    ]);
  });

  it("a merged pull_request.closed links the PR to the issue it fixes and carries the merge", async () => {
    const payload = pullRequestMergedPayload(pr, {
      mergedAt: new Date("2025-07-01T12:59:00Z"),
      mergedBy: "octocat",
    });
    expect(await intentsOf("pull_request", payload)).toEqual([
      { kind: "link_pr", pr: PR_REF, taskIds: [TASK_ID] },
      {
        kind: "evidence_for_pr",
        pr: PR_REF,
        patch: {
          merges: { "https://github.com/agentforge-demo/run-0a1b2c3d/pull/2": "2025-07-01T12:59:00.000Z" },
        },
      },
    ]);
  });

  it("an approving review links the PR and counts as an approval", async () => {
    const payload = pullRequestReviewPayload(pr, {
      reviewer: "octocat",
      state: "approved",
      submittedAt: new Date("2025-07-01T12:50:00Z"),
    });
    expect(await intentsOf("pull_request_review", payload)).toEqual([
      { kind: "link_pr", pr: PR_REF, taskIds: [TASK_ID] },
      {
        kind: "evidence_for_pr",
        pr: PR_REF,
        patch: {
          reviews: [
            {
              review_id: expect.any(String),
              reviewer: "octocat",
              state: "approved",
              at: "2025-07-01T12:50:00.000Z",
            },
          ],
        },
      },
    ]);
  });

  it("a completed check suite is check evidence on the pull request", async () => {
    const payload = checkSuiteCompletedPayload(pr, {
      conclusion: "success",
      completedAt: new Date("2025-07-01T12:55:00Z"),
    });
    expect(await intentsOf("check_suite", payload)).toEqual([
      {
        kind: "evidence_for_pr",
        pr: PR_REF,
        patch: {
          checks: [{ name: "suite:github-actions", conclusion: "success", at: "2025-07-01T12:55:00.000Z" }],
        },
      },
    ]);
  });

  it("the demo's evidence (approved, green, merged, closed as completed) is a SUCCESS of quality 1", async () => {
    const deliveries: Array<[string, Record<string, unknown>]> = [
      [
        "pull_request_review",
        pullRequestReviewPayload(pr, {
          reviewer: "octocat",
          state: "approved",
          submittedAt: new Date("2025-07-01T13:00:00Z"),
        }),
      ],
      [
        "check_suite",
        checkSuiteCompletedPayload(pr, {
          conclusion: "success",
          completedAt: new Date("2025-07-01T13:00:00Z"),
        }),
      ],
      [
        "pull_request",
        pullRequestMergedPayload(pr, { mergedAt: new Date("2025-07-01T13:00:00Z"), mergedBy: "octocat" }),
      ],
      [
        "issues",
        issueClosedPayload(issue, { closedAt: new Date("2025-07-01T13:00:00Z"), closedBy: "octocat" }),
      ],
    ];
    let evidence = emptyEvidence();
    for (const [event, payload] of deliveries) {
      for (const intent of await intentsOf(event, payload)) {
        if (intent.kind === "evidence" || intent.kind === "evidence_for_pr") {
          ({ evidence } = mergeEvidence(evidence, intent.patch));
        }
      }
    }
    expect(desiredOutcome(evidence)).toMatchObject({ status: "SUCCESS", quality_score: 1 });
  });
});

describe("examples/webhooks", () => {
  it("holds exactly what the builders produce (regenerate with writeSamplePayloads('examples/webhooks'))", () => {
    for (const { file, payload } of SAMPLE_WEBHOOKS) {
      const written = JSON.parse(readFileSync(join("examples", "webhooks", file), "utf8"));
      expect(written, file).toEqual(payload);
    }
  });

  it("tells one task's story: the merged PR closes the opened issue, which is then closed", async () => {
    const [opened, merged, closed] = await Promise.all(
      SAMPLE_WEBHOOKS.map(({ event, payload }) => intentsOf(event, payload)),
    );
    const [created] = opened ?? [];
    const taskId = created?.kind === "create_task" ? created.task.task_id : undefined;
    expect(taskId).toBe("https://github.com/octo-org/agentforge-sandbox/issues/42");
    expect(merged).toContainEqual(expect.objectContaining({ kind: "link_pr", taskIds: [taskId] }));
    expect(closed).toEqual([expect.objectContaining({ kind: "evidence", taskIds: [taskId] })]);
  });
});
