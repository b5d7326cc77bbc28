import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CLOSING_REFS_SCAN_LIMIT } from "../../src/domain/webhooks/closing-refs.js";
import { type InterpretOptions, interpretDelivery } from "../../src/domain/webhooks/interpret.js";
import { slimPayload, WORKER_PAYLOAD_SHAPE } from "../../src/domain/webhooks/slim-payload.js";
import {
  githubExamples,
  githubPayload,
  issuesClosedPayload,
  multibyteText,
  pullRequestMergedPayload,
} from "../fixtures/github.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

const HANDLED = ["issues", "pull_request", "pull_request_review", "check_suite", "check_run"] as const;

/** Options that make the fixtures' own labels meaningful, so more of the worker's paths run. */
const DEFAULTS: InterpretOptions = {
  marketplaceLabel: "agentforge",
  humanInterventionLabel: "human-intervention",
};
const OPTION_SETS: InterpretOptions[] = [
  DEFAULTS,
  { marketplaceLabel: "bug", humanInterventionLabel: "bug" },
  { marketplaceLabel: "enhancement", humanInterventionLabel: "enhancement" },
  { ...DEFAULTS, trustedCheckApps: ["github-actions"] },
  { ...DEFAULTS, trustedCheckApps: ["octocoders-linter"] },
];

/** What the worker makes of a payload: its intents, or the message of the error it throws. */
function verdict(event: string, payload: unknown, options: InterpretOptions): unknown {
  try {
    return { intents: interpretDelivery(event, payload, options) };
  } catch (error) {
    return { error: (error as Error).name, message: (error as Error).message };
  }
}

function expectSameVerdict(event: string, payload: Record<string, unknown>): void {
  const slim = slimPayload(event, payload);
  for (const options of OPTION_SETS) {
    expect(verdict(event, slim, options)).toEqual(verdict(event, payload, options));
  }
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), "utf8");

/** Payloads that reach the worker's deeper paths: tasks, outcomes, closing references, merges. */
function adjustedPayloads(): [string, Payload][] {
  const labeled: Payload = githubPayload("issues", "labeled");
  labeled.issue.labels = ["agentforge", "cap:python", "budget:25", "cap:Not Valid", "human-intervention"].map(
    (name, id) => ({ id, name, color: "ededed", default: false, description: null }),
  );
  labeled.label = labeled.issue.labels[4];
  const opened: Payload = githubPayload("issues", "opened");
  opened.issue.labels = labeled.issue.labels;
  const merged: Payload = pullRequestMergedPayload();
  merged.pull_request.body = "Fixes #1, closes octo/other#2 and https://github.com/a/b/issues/3";
  const review: Payload = githubPayload("pull_request_review", "submitted");
  review.pull_request.body = "resolves #7";
  review.review.state = "approved";
  const dismissed: Payload = githubPayload("pull_request_review", "dismissed");
  dismissed.pull_request.body = "fixes #8";
  // A member's approval of someone else's pull request: the review the worker keeps as evidence.
  const independent: Payload = githubPayload("pull_request_review", "submitted");
  independent.review.state = "approved";
  independent.review.author_association = "MEMBER";
  independent.review.user = { ...independent.review.user, login: "hubot", id: 1 };
  const suite: Payload = githubPayload("check_suite", "completed", 1);
  suite.check_suite.pull_requests = [
    { number: 2, base: { ref: "main", repo: { id: suite.repository.id, name: "Hello-World" } } },
    { number: 3, base: { ref: "main", repo: { id: 1, name: "upstream" } } },
  ];
  return [
    ["issues", labeled],
    ["issues", opened],
    ["issues", issuesClosedPayload("completed")],
    ["issues", issuesClosedPayload("not_planned")],
    ["pull_request", merged],
    ["pull_request_review", review],
    ["pull_request_review", dismissed],
    ["pull_request_review", independent],
    ["check_suite", suite],
  ];
}

/** Every path the shape keeps, as key lists; `[]` stands for "each element". */
function shapePaths(shape: object, prefix: (string | number)[] = []): (string | number)[][] {
  return Object.entries(shape).flatMap(([key, field]) => {
    const path = [...prefix, key];
    if (typeof field === "string") return [path];
    if (Array.isArray(field)) return [path, ...shapePaths(field[0] as object, [...path, 0])];
    return [path, ...shapePaths(field as object, path)];
  });
}

/** A copy of `payload` with `value` written at `path`, creating objects (or a one-element array) on the way. */
function withValue(payload: Payload, path: (string | number)[], value: unknown): Payload {
  const copy = structuredClone(payload);
  let node = copy;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      node[key] = value;
    } else {
      const next = path[i + 1];
      if (typeof node[key] !== "object" || node[key] === null)
        node[key] = typeof next === "number" ? [{}] : {};
      if (typeof next === "number" && Array.isArray(node[key]) && node[key].length === 0) node[key].push({});
      node = node[key];
    }
  }
  return copy;
}

describe("slimPayload", () => {
  it.each(HANDLED)(
    "gives the worker the same result as the full payload for every real %s example",
    (event) => {
      for (const example of githubExamples(event)) {
        expectSameVerdict(event, example as unknown as Record<string, unknown>);
      }
    },
  );

  it.each(adjustedPayloads())(
    "gives the worker the same result for an adjusted %s payload",
    (event, payload) => {
      expectSameVerdict(event, payload);
      expect(interpretDelivery(event, slimPayload(event, payload), DEFAULTS)).not.toEqual([
        expect.objectContaining({ kind: "ignore" }),
      ]);
    },
  );

  it("keeps exactly the documented fields", () => {
    const dotted = shapePaths(WORKER_PAYLOAD_SHAPE)
      .map((path) => path.map((key) => (key === 0 ? "[]" : `.${key}`)).join(""))
      .map((path) => path.slice(1).replace(".[]", "[]"));

    expect(dotted.sort()).toEqual(
      [
        "action",
        ...["html_url", "node_id", "number", "title", "state", "state_reason", "closed_at", "updated_at"].map(
          (f) => `issue.${f}`,
        ),
        "issue.labels",
        "issue.labels[].name",
        "label",
        "label.name",
        "repository",
        "repository.id",
        "repository.full_name",
        ...["html_url", "number", "body", "merged", "merged_at", "closed_at"].map((f) => `pull_request.${f}`),
        "pull_request.user",
        "pull_request.user.id",
        "pull_request.user.login",
        "review",
        "review.id",
        "review.state",
        "review.user",
        "review.user.id",
        "review.user.login",
        "review.author_association",
        "review.submitted_at",
        ...["id", "conclusion", "updated_at", "head_sha", "app", "app.slug", "app.id", "pull_requests"].map(
          (f) => `check_suite.${f}`,
        ),
        "check_suite.pull_requests[].number",
        "check_suite.pull_requests[].base",
        "check_suite.pull_requests[].base.repo",
        "check_suite.pull_requests[].base.repo.id",
        ...["id", "name", "conclusion", "completed_at", "head_sha", "check_suite", "check_suite.id"].map(
          (f) => `check_run.${f}`,
        ),
        ...["app", "app.slug", "app.id", "pull_requests", "pull_requests[].number"].map(
          (f) => `check_run.${f}`,
        ),
        ...["base", "base.repo", "base.repo.id"].map((f) => `check_run.pull_requests[].${f}`),
        "sender",
        "sender.login",
        "issue",
        "pull_request",
        "check_suite",
        "check_run",
      ].sort(),
    );
  });

  it("keeps exactly the fields the worker reads, with their values", () => {
    const payload: Payload = githubPayload("check_run", "completed");
    payload.check_run.pull_requests = [{ number: 5, url: "https://api.github.com/x", head: { sha: "abc" } }];

    expect(slimPayload("check_run", payload)).toEqual({
      action: "completed",
      check_run: {
        id: payload.check_run.id,
        name: payload.check_run.name,
        conclusion: payload.check_run.conclusion,
        completed_at: payload.check_run.completed_at,
        head_sha: payload.check_run.head_sha,
        check_suite: { id: payload.check_run.check_suite.id },
        app: { id: payload.check_run.app.id, slug: payload.check_run.app.slug },
        pull_requests: [{ number: 5 }],
      },
      repository: { id: payload.repository.id, full_name: payload.repository.full_name },
      sender: { login: payload.sender.login },
    });
  });

  it("keeps an issue's labels by name, and nothing of its body, user or assignees", () => {
    const payload: Payload = githubPayload("issues", "labeled");
    payload.issue.body = multibyteText(65_536);

    const slim: Payload = slimPayload("issues", payload);

    expect(Object.keys(slim).sort()).toEqual(["action", "issue", "label", "repository", "sender"]);
    expect(slim.issue.labels).toEqual(payload.issue.labels.map((l: Payload) => ({ name: l.name })));
    expect(slim.label).toEqual({ name: payload.label.name });
    expect(slim.issue).not.toHaveProperty("body");
    expect(slim.issue).not.toHaveProperty("user");
    expect(bytes(slim)).toBeLessThan(2_048);
    expect(bytes(payload)).toBeGreaterThan(190_000);
  });

  it("every real example of every event shrinks to a small fraction", () => {
    for (const event of [...HANDLED, "push", "issue_comment", "release"] as const) {
      for (const example of githubExamples(event)) {
        const payload = example as unknown as Record<string, unknown>;
        const slim = slimPayload(event, payload);
        expect(bytes(slim)).toBeLessThan(4_096);
        expect(bytes(slim)).toBeLessThanOrEqual(bytes(payload));
      }
    }
  });

  describe("pull_request.body", () => {
    const withBody = (body: unknown): Payload => {
      const payload: Payload = githubPayload("pull_request", "opened");
      payload.pull_request.body = body;
      return payload;
    };

    it("keeps a body up to 65,536 code units whole", () => {
      const body = `${"x".repeat(CLOSING_REFS_SCAN_LIMIT - 9)} fixes #1`;
      expect((slimPayload("pull_request", withBody(body)) as Payload).pull_request.body).toBe(body);
    });

    it("keeps the first 65,536 code units of a longer one", () => {
      const body = `${"x".repeat(CLOSING_REFS_SCAN_LIMIT)}fixes #1`;
      expect((slimPayload("pull_request", withBody(body)) as Payload).pull_request.body).toBe(
        "x".repeat(CLOSING_REFS_SCAN_LIMIT),
      );
    });

    it("never splits a surrogate pair", () => {
      const body = `${"x".repeat(CLOSING_REFS_SCAN_LIMIT - 1)}😀 and more`;
      const slim = (slimPayload("pull_request", withBody(body)) as Payload).pull_request.body as string;

      expect(slim).toBe("x".repeat(CLOSING_REFS_SCAN_LIMIT - 1));
      expect(Buffer.from(slim, "utf8").toString("utf8")).toBe(slim); // no lone surrogate
    });

    it("keeps the references the worker finds, whatever follows the limit", () => {
      const body = `${multibyteText(40_000)}\nFixes #12 and closes octo/other#3\n${multibyteText(40_000)}fixes #99`;
      expectSameVerdict("pull_request", withBody(body));
      const intents = interpretDelivery(
        "pull_request",
        slimPayload("pull_request", withBody(body)),
        DEFAULTS,
      );
      expect(intents[0]).toMatchObject({
        kind: "link_pr",
        taskIds: expect.arrayContaining([expect.any(String)]),
      });
    });

    it.each([[null], [42], [["fixes #1"]], [{ text: "fixes #1" }]])(
      "leaves a body of %j to the worker",
      (body) => {
        expectSameVerdict("pull_request", withBody(body));
      },
    );
  });

  describe("fields of an unexpected type", () => {
    it("keeps scalars and null, empties objects and arrays, and leaves absent fields absent", () => {
      const payload = {
        action: { nested: "x".repeat(1000) },
        issue: "not an object",
        label: null,
        repository: [{ id: 1 }],
        pull_request: { number: [1, 2, 3], body: { big: "x".repeat(1000) }, merged: "yes" },
        review: { user: null, state: ["approved"] },
        check_suite: { pull_requests: { number: 1 }, app: 7 },
        check_run: { pull_requests: [3, null, [1], { number: 4, extra: true }] },
        unrelated: { huge: "x".repeat(10_000) },
      };

      expect(slimPayload("anything", payload)).toEqual({
        action: {},
        issue: "not an object",
        label: null,
        repository: [],
        pull_request: { number: [], body: {}, merged: "yes" },
        review: { user: null, state: [] },
        check_suite: { pull_requests: {}, app: 7 },
        check_run: { pull_requests: [3, null, [], { number: 4 }] },
      });
    });

    it("changes nothing the worker decides, whatever value sits at any kept path", () => {
      const bases: [string, Payload][] = [
        ...adjustedPayloads(),
        ["check_suite", githubPayload("check_suite", "completed")],
        ["check_run", githubPayload("check_run", "completed")],
      ];
      const paths = shapePaths(WORKER_PAYLOAD_SHAPE);
      fc.assert(
        fc.property(
          fc.constantFrom(...bases),
          fc.constantFrom(...paths),
          fc.jsonValue({ maxDepth: 2 }),
          ([event, base], path, value) => {
            expectSameVerdict(event, withValue(base, path, value));
          },
        ),
        { numRuns: 500 },
      );
    });
  });

  it("is total, pure, idempotent and never grows the payload, for any JSON object", () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 })),
        (event, payload) => {
          const before = JSON.stringify(payload);

          const slim = slimPayload(event, payload);

          expect(JSON.stringify(payload)).toBe(before);
          expect(slimPayload(event, slim)).toEqual(slim);
          expect(bytes(slim)).toBeLessThanOrEqual(bytes(payload));
        },
      ),
      { numRuns: 500 },
    );
  });

  it("does not copy inherited or prototype keys", () => {
    const payload = JSON.parse('{"__proto__": {"action": "opened"}, "constructor": 1}') as Record<
      string,
      unknown
    >;
    const slim = slimPayload("issues", payload);

    expect(slim).toEqual({});
    expect(Object.getPrototypeOf(slim)).toBe(Object.prototype);
  });
});
