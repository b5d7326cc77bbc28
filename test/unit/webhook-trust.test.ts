import { App } from "aws-cdk-lib";
import { describe, expect, it, vi } from "vitest";
import { readSettings } from "../../infra/settings.js";
import { loadConfig } from "../../src/config.js";
import { type InterpretOptions, interpretDelivery } from "../../src/domain/webhooks/interpret.js";
import {
  parseAllowedRepositories,
  parseTrustedCheckApps,
  repositoryAllowed,
  sameAccount,
} from "../../src/domain/webhooks/trust.js";
import { createObservability } from "../../src/observability.js";
import { createIntakeRecordHandler } from "../../src/workers/intake-worker.js";
import { githubPayload } from "../fixtures/github.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

const OPTIONS: InterpretOptions = {
  marketplaceLabel: "agentforge",
  humanInterventionLabel: "human-intervention",
};

describe("GITHUB_ALLOWED_REPOSITORIES", () => {
  it("parses owner/name and owner/* entries, lowercased, trimmed and de-duplicated", () => {
    expect(parseAllowedRepositories(" Octo-Org/* , Codertocat/Hello-World,codertocat/hello-world,")).toEqual([
      "octo-org/*",
      "codertocat/hello-world",
    ]);
  });

  it("owner/* allows every repository of that owner and no other; names match in any case", () => {
    const patterns = parseAllowedRepositories("octo-org/*,Codertocat/Hello-World");

    expect(repositoryAllowed(patterns, "octo-org/anything")).toBe(true);
    expect(repositoryAllowed(patterns, "OCTO-ORG/Sandbox")).toBe(true);
    expect(repositoryAllowed(patterns, "codertocat/HELLO-world")).toBe(true);
    expect(repositoryAllowed(patterns, "Codertocat/Other")).toBe(false);
    expect(repositoryAllowed(patterns, "octo-org-evil/anything")).toBe(false);
    expect(repositoryAllowed(patterns, "evil/octo-org")).toBe(false);
    expect(repositoryAllowed(patterns, "octo-org")).toBe(false);
  });

  it.each([
    ["https://github.com/o/r", '"https://github.com/o/r" is not owner/name or owner/*'],
    ["o/r,just-a-name", '"just-a-name" is not owner/name or owner/*'],
    ["*/*", '"*/*" is not owner/name or owner/*'],
    ["*", '"*" is not owner/name or owner/*'],
    ["o/r*", '"o/r*" is not owner/name or owner/*'],
    ["o/r/s", '"o/r/s" is not owner/name or owner/*'],
    ["o/..", '"o/.." is not owner/name or owner/*'],
    ["o/r s", '"o/r s" is not owner/name or owner/*'],
    ["o/r,,p/q", "entry 2 is empty"],
  ])("refuses %j, naming the entry", (value, message) => {
    expect(() => parseAllowedRepositories(value)).toThrow(message);
    expect(() => loadConfig({ GITHUB_ALLOWED_REPOSITORIES: value })).toThrow(
      `Invalid configuration: GITHUB_ALLOWED_REPOSITORIES: ${message}`,
    );
  });

  it("unset or blank means every repository; the config carries the parsed patterns", () => {
    expect(loadConfig({}).allowedRepositories).toBeUndefined();
    expect(loadConfig({ GITHUB_ALLOWED_REPOSITORIES: " " }).allowedRepositories).toBeUndefined();
    expect(loadConfig({ GITHUB_ALLOWED_REPOSITORIES: "A/B" }).allowedRepositories).toEqual(["a/b"]);
  });

  it("is validated at synth from CDK context, as a string or a JSON array", () => {
    const settings = (context: Record<string, unknown>) => readSettings(new App({ context }).node);

    expect(settings({ githubAllowedRepositories: "octo-org/*" }).functionEnv).toMatchObject({
      GITHUB_ALLOWED_REPOSITORIES: "octo-org/*",
    });
    expect(
      settings({
        githubAllowedRepositories: ["octo-org/*", "a/b"],
        githubTrustedCheckApps: ["github-actions"],
      }).functionEnv,
    ).toMatchObject({
      GITHUB_ALLOWED_REPOSITORIES: "octo-org/*,a/b",
      GITHUB_TRUSTED_CHECK_APPS: "github-actions",
    });
    expect(() => settings({ githubAllowedRepositories: "octo-org/*,octo-org" })).toThrow(
      'Invalid CDK context "githubAllowedRepositories": "octo-org" is not owner/name or owner/*',
    );
    expect(() => settings({ githubTrustedCheckApps: "GitHub Actions" })).toThrow(
      'Invalid CDK context "githubTrustedCheckApps": "GitHub Actions" is not a GitHub App slug',
    );
  });
});

describe("the intake worker's cold start", () => {
  it.each([
    [true, 1],
    [false, 0],
  ])("warns that every repository is accepted only when no allowlist is set (open: %s)", (open, warnings) => {
    const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
    const warn = vi.spyOn(logger, "warn");

    createIntakeRecordHandler({
      webhooks: { acceptsEveryRepository: open, process: () => Promise.reject(new Error("unused")) },
      logger,
      metrics,
    });

    expect(warn).toHaveBeenCalledTimes(warnings);
    if (open) expect(warn.mock.calls[0]?.[0]).toMatch(/GITHUB_ALLOWED_REPOSITORIES is not set/);
  });
});

describe("GITHUB_TRUSTED_CHECK_APPS", () => {
  it("parses app slugs, lowercased; a bad one is named", () => {
    expect(parseTrustedCheckApps("GitHub-Actions, codecov")).toEqual(["github-actions", "codecov"]);
    expect(() => loadConfig({ GITHUB_TRUSTED_CHECK_APPS: "github-actions,ci/bot" })).toThrow(
      'GITHUB_TRUSTED_CHECK_APPS: "ci/bot" is not a GitHub App slug',
    );
  });
});

describe("who may give evidence (interpretDelivery)", () => {
  /** A real review payload: approved, by `reviewer` with `association`, on a PR by Codertocat (21031067). */
  function review(
    association: string,
    reviewer: { login: string; id?: number },
    state = "approved",
  ): Payload {
    const payload: Payload = githubPayload("pull_request_review", "submitted");
    payload.review.state = state;
    payload.review.author_association = association;
    payload.review.user = { ...payload.review.user, ...reviewer };
    if (reviewer.id === undefined) delete payload.review.user.id;
    return payload;
  }

  const kinds = (payload: Payload, event = "pull_request_review", options = OPTIONS) =>
    interpretDelivery(event, payload, options).map((intent) =>
      intent.kind === "ignore" ? `ignore: ${intent.reason}` : intent.kind,
    );

  it.each(["OWNER", "MEMBER", "COLLABORATOR"])(
    "a review by a %s who is not the author counts",
    (association) => {
      expect(kinds(review(association, { login: "hubot", id: 1 }))).toEqual(["evidence_for_pr"]);
    },
  );

  it.each(["CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE"])(
    "a review by a %s does not count",
    (association) => {
      expect(kinds(review(association, { login: "hubot", id: 1 }))).toEqual([
        `ignore: review 237895671 by hubot (author_association ${association}) does not count: only OWNER, MEMBER or COLLABORATOR reviews do`,
      ]);
    },
  );

  it("the pull request author's own review does not count, even as OWNER, by id or else by login", () => {
    const own = "does not count: it is the pull request author's own review";

    expect(kinds(review("OWNER", { login: "Codertocat", id: 21031067 }))).toEqual([
      `ignore: review 237895671 by Codertocat ${own}`,
    ]);
    // Renamed since: the id still says it is the author.
    expect(kinds(review("OWNER", { login: "codertocat-renamed", id: 21031067 }))).toEqual([
      `ignore: review 237895671 by codertocat-renamed ${own}`,
    ]);
    const withoutIds = review("OWNER", { login: "CODERTOCAT" });
    delete withoutIds.pull_request.user.id;
    expect(kinds(withoutIds)).toEqual([`ignore: review 237895671 by CODERTOCAT ${own}`]);
    const unknownAuthor = review("MEMBER", { login: "hubot", id: 1 });
    unknownAuthor.pull_request.user = null;
    expect(kinds(unknownAuthor)).toEqual([
      "ignore: review 237895671 by hubot does not count: the pull request's author is unknown",
    ]);
  });

  it("a dismissal is applied whoever reviewed (it can only take back a review that counted)", () => {
    const dismissed: Payload = githubPayload("pull_request_review", "dismissed");
    dismissed.review.author_association = "NONE";

    expect(kinds(dismissed)).toEqual(["evidence_for_pr"]);
  });

  function checkRun(slug: string | undefined): Payload {
    const run: Payload = githubPayload("check_run", "completed");
    run.check_run.conclusion = "success";
    run.check_run.completed_at = "2025-07-01T10:00:00Z";
    if (slug === undefined) delete run.check_run.app;
    else run.check_run.app = { ...run.check_run.app, slug };
    return run;
  }

  it("with trusted check apps set, only their check runs and suites count", () => {
    const trusted = { ...OPTIONS, trustedCheckApps: ["github-actions"] };
    const suite: Payload = githubPayload("check_suite", "completed", 1);
    suite.check_suite.pull_requests = [{ number: 2, base: { repo: { id: suite.repository.id } } }];

    expect(kinds(checkRun("GitHub-Actions"), "check_run", trusted)).toEqual(["evidence_for_pr"]);
    expect(kinds(checkRun("sketchy-ci"), "check_run", trusted)).toEqual([
      "ignore: check_run from app sketchy-ci does not count: not a trusted check app (GITHUB_TRUSTED_CHECK_APPS)",
    ]);
    expect(kinds(checkRun(undefined), "check_run", trusted)).toEqual([
      "ignore: check_run from app (none) does not count: not a trusted check app (GITHUB_TRUSTED_CHECK_APPS)",
    ]);
    expect(kinds(suite, "check_suite", trusted)).toEqual(["evidence_for_pr"]);
    expect(kinds(suite, "check_suite", { ...OPTIONS, trustedCheckApps: ["codecov"] })).toEqual([
      "ignore: check_suite from app github-actions does not count: not a trusted check app (GITHUB_TRUSTED_CHECK_APPS)",
    ]);
    // Unset: every app counts, as before.
    expect(kinds(checkRun("sketchy-ci"), "check_run")).toEqual(["evidence_for_pr"]);
  });

  it("a check's pull request in another repository is not this repository's pull request", () => {
    const run = checkRun("github-actions");
    const own = run.check_run.pull_requests[0];
    run.check_run.pull_requests = [own, { ...own, number: 77, base: { ...own.base, repo: { id: 42 } } }];

    expect(interpretDelivery("check_run", run, OPTIONS)).toEqual([
      expect.objectContaining({ kind: "evidence_for_pr", pr: { repoId: run.repository.id, number: 2 } }),
    ]);
    run.check_run.pull_requests = run.check_run.pull_requests.slice(1);
    expect(kinds(run, "check_run")).toEqual([
      "ignore: check_run is attached only to pull requests of other repositories",
    ]);
    // A pull request stub that does not say its repository fails closed.
    run.check_run.pull_requests = [{ number: 2 }];
    expect(kinds(run, "check_run")).toEqual([
      "ignore: check_run is attached only to pull requests of other repositories",
    ]);
  });

  it("a pull request closing another repository's issue links nothing and says why", () => {
    const pr: Payload = githubPayload("pull_request", "opened");
    pr.pull_request.body = "Fixes octo-org/elsewhere#12";

    expect(kinds(pr, "pull_request")).toEqual([
      "ignore: closing references outside Codertocat/Hello-World do not count: octo-org/elsewhere#12",
    ]);
  });
});

describe("sameAccount", () => {
  it("compares ids when both have one, else logins in any case, else cannot tell", () => {
    expect(sameAccount({ id: 1, login: "a" }, { id: 1, login: "b" })).toBe(true);
    expect(sameAccount({ id: 1, login: "a" }, { id: 2, login: "a" })).toBe(false);
    expect(sameAccount({ login: "Hubot" }, { id: 2, login: "hubot" })).toBe(true);
    expect(sameAccount({ login: "a" }, {})).toBeUndefined();
  });
});
