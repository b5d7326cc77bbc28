import { beforeAll, describe, expect, it } from "vitest";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import type { IntakeMessage } from "../../src/domain/webhooks/intake-message.js";
import { createWebhookService, type WebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { githubPayload, pullRequestReviewPayload } from "../fixtures/github.js";
import { scanRaw, servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = Record<string, any>;

const CONTROL = /\p{Cc}/u;
const CONTROLS = ["\u0000", "\u0009", "\u000a", "\u000d", "\u001b", "\u001f", "\u007f", "\u0085"];

/** A deep copy of a real GitHub example payload, untyped so a test can plant anything in it. */
const example = (event: string, action: string): Payload => githubPayload(event as never, action as never);

let deliveries = 0;
const message = (event: string, payload: Payload): IntakeMessage => ({
  delivery_id: `ctl-${++deliveries}`,
  event,
  received_at: new Date().toISOString(),
  payload,
});

/** Every string in `value`, map keys included. */
function stringsOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value instanceof Set || Array.isArray(value)) return [...value].flatMap(stringsOf);
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, member]) => [key, ...stringsOf(member)]);
  }
  return [];
}

/**
 * Webhook-derived text and control characters (U+0000–U+001F, U+007F–U+009F): fields that become keys
 * or evidence refuse them (the delivery is rejected as malformed, acknowledged and recorded), the
 * title has them replaced, and whatever is stored is read back raw without one.
 */
describe("webhook deliveries with control characters (DynamoDB Local)", () => {
  let table: TestTable;
  let webhooks: WebhookService;
  let allowlisted: WebhookService;
  let issueNumber = 5000;

  beforeAll(async () => {
    table = await useTestTable();
    const services = servicesFor(table);
    const options = {
      tasks: services.taskRepo,
      state: createWebhookStateRepository({ service: table.service, deliveryTtlSeconds: 3600 }),
      marketplaceLabel: "agentforge",
      humanInterventionLabel: "human-intervention",
      bidWindowSeconds: 300,
    };
    webhooks = createWebhookService(options);
    allowlisted = createWebhookService({ ...options, allowedRepositories: ["codertocat/*"] });
  });

  const rawItems = () => scanRaw(table);

  function openedIssue(labels = ["agentforge", "cap:python"]): Payload {
    const payload = example("issues", "opened");
    const n = ++issueNumber;
    payload.issue.number = n;
    payload.issue.html_url = `https://github.com/Codertocat/Hello-World/issues/${n}`;
    payload.issue.labels = labels.map((name, id) => ({ id, name, color: "ededed", default: false }));
    return payload;
  }

  const taskItem = async (url: string) =>
    (await rawItems()).find((item) => item.type === "TASK" && item.task_id === url);

  it("a title's control characters are replaced by spaces; the task is created", async () => {
    const payload = openedIssue();
    payload.issue.title = `Fix\u0000the${CONTROLS.join("")}flaky\ttest\n`;

    const result = await webhooks.process(message("issues", payload));

    expect(result).toMatchObject({ status: "processed", effects: [{ kind: "task_created", created: true }] });
    expect((await taskItem(payload.issue.html_url))?.title).toBe("Fix the flaky test");
  });

  it("a title of control characters only is ignored with a reason; no task", async () => {
    const payload = openedIssue();
    payload.issue.title = CONTROLS.join("");

    const result = await webhooks.process(message("issues", payload));

    expect(result).toMatchObject({
      status: "processed",
      effects: [{ kind: "ignored", reason: expect.stringMatching(/title: must not be empty/) }],
    });
    expect(await taskItem(payload.issue.html_url)).toBeUndefined();
  });

  it("a label with a control character is no capability: the issue is ignored", async () => {
    const payload = openedIssue(["agentforge", "cap:py\u0000thon"]);

    const result = await webhooks.process(message("issues", payload));

    expect(result).toMatchObject({ status: "processed", effects: [{ kind: "ignored" }] });
    expect(await taskItem(payload.issue.html_url)).toBeUndefined();
  });

  /** Deliveries whose key or evidence fields carry control character `c`. */
  const refused: Array<[string, (c: string) => IntakeMessage]> = [
    [
      "issue node_id",
      (c) => {
        const payload = openedIssue();
        payload.issue.node_id = `MDU6${c}SXNzdWU=`;
        return message("issues", payload);
      },
    ],
    [
      "pull request html_url",
      (c) => {
        const payload = example("pull_request", "opened");
        payload.pull_request.html_url = `${payload.pull_request.html_url}${c}x`;
        return message("pull_request", payload);
      },
    ],
    [
      "pull request author login",
      (c) => {
        const payload = example("pull_request", "opened");
        payload.pull_request.user.login = `Coder${c}tocat`;
        return message("pull_request", payload);
      },
    ],
    [
      "reviewer login",
      (c) => {
        const payload = pullRequestReviewPayload() as unknown as Payload;
        payload.review.user.login = `hu${c}bot`;
        return message("pull_request_review", payload);
      },
    ],
    [
      "check run name",
      (c) => {
        const payload = example("check_run", "completed");
        payload.check_run.name = `lint${c}`;
        return message("check_run", payload);
      },
    ],
    [
      "check run conclusion",
      (c) => {
        const payload = example("check_run", "completed");
        payload.check_run.conclusion = `success${c}`;
        return message("check_run", payload);
      },
    ],
    [
      "check suite conclusion",
      (c) => {
        const payload = example("check_suite", "completed");
        payload.check_suite.conclusion = `${c}success`;
        return message("check_suite", payload);
      },
    ],
    [
      "check suite app slug",
      (c) => {
        const payload = example("check_suite", "completed");
        payload.check_suite.app.slug = `octo${c}app`;
        return message("check_suite", payload);
      },
    ],
  ];

  it.each(refused)(
    "a control character in the %s rejects the delivery, recorded cleanly",
    async (_f, make) => {
      for (const c of CONTROLS) {
        const delivery = make(c);

        const result = await webhooks.process(delivery);

        expect(result).toMatchObject({ status: "rejected", reason: expect.stringMatching(/is malformed/) });
        expect(await webhooks.process(structuredClone(delivery))).toMatchObject({ status: "duplicate" });
        if (delivery.event === "issues")
          expect(await taskItem((delivery.payload as Payload).issue.html_url)).toBeUndefined();
      }
    },
  );

  it("a pull request body may hold control characters: only its closing references are read", async () => {
    const issue = openedIssue();
    await webhooks.process(message("issues", issue));
    const payload = example("pull_request", "opened");
    payload.pull_request.number = 90_001;
    payload.pull_request.body = `Some\u0000text\r\n${CONTROLS.join("")}\nFixes #${issue.issue.number}\n`;

    const result = await webhooks.process(message("pull_request", payload));

    expect(result).toMatchObject({
      status: "processed",
      effects: expect.arrayContaining([
        { kind: "pr_linked", pr: expect.any(String), task_ids: [issue.issue.html_url] },
      ]),
    });
  });

  it("a delivery record quoting the sender (action, repository name) replaces control characters", async () => {
    const payload = openedIssue();
    payload.action = "opened\u0000\u001b[31m";
    payload.repository.full_name = "evil\u0000org/re\npo";

    const result = await allowlisted.process(message("issues", payload));

    expect(result).toMatchObject({
      status: "ignored",
      reason: expect.stringMatching(/GITHUB_ALLOWED_REPOSITORIES/),
    });
  });

  // Runs last: everything the deliveries above stored, read back raw.
  it("no stored item holds a control character anywhere", async () => {
    const items = await rawItems();

    expect(items.some((item) => String(item.type).startsWith("DELIVERY") || "delivery_id" in item)).toBe(
      true,
    );
    for (const item of items) {
      expect(
        stringsOf(item).filter((s) => CONTROL.test(s)),
        JSON.stringify(item),
      ).toEqual([]);
    }
  });
});
