import * as z from "zod";
import { capabilitySchema } from "../agents/agent.schema.js";
import {
  amountSchema,
  isoTimestampSchema,
  issueUrlSchema,
  plainTextSchema,
  replaceControlCharacters,
} from "../common.schema.js";
import type { EvidencePatch } from "../tasks/evidence.js";
import { closingReferences } from "./closing-refs.js";
import { sameAccount, TRUSTED_REVIEW_ASSOCIATIONS } from "./trust.js";

export interface InterpretOptions {
  marketplaceLabel: string;
  humanInterventionLabel: string;
  /**
   * GitHub App slugs, lowercased (`parseTrustedCheckApps`), whose check suites and check runs count as
   * evidence. Unset: checks from every app count.
   */
  trustedCheckApps?: readonly string[];
}

/** What a delivery asks the marketplace to do; a delivery may carry several. */
export type Intent =
  | { kind: "create_task"; task: CreateTaskIntent }
  | { kind: "evidence"; taskIds: string[]; patch: EvidencePatch }
  | { kind: "evidence_for_pr"; pr: PullRequestRef; patch: EvidencePatch }
  | { kind: "link_pr"; pr: PullRequestRef; taskIds: string[] }
  | { kind: "ignore"; reason: string };

/** A pull request, by repository id (stable across renames and transfers) and number. */
export interface PullRequestRef {
  repoId: number;
  number: number;
}

export interface CreateTaskIntent {
  task_id: string;
  title: string;
  required_capabilities: string[];
  budget?: number;
  repository_id?: number;
  issue_node_id?: string;
  /** Labels that looked like `cap:`/`budget:` but were not valid, for the log. */
  ignored_labels: string[];
}

/**
 * Control characters (U+0000–U+001F, U+007F–U+009F) never pass this edge. Fields that become keys or
 * evidence (node ids, logins, check names, conclusions, app slugs, pull request URLs) refuse them, so
 * the delivery is rejected as malformed; the title is free text, so they are replaced by a space.
 * Label names are only compared and parsed (`cap:`/`budget:`), which refuses them already, and a pull
 * request body is only searched for closing references, which yield well-formed issue URLs.
 */
const plain = plainTextSchema;
const label = z.looseObject({ name: z.string() });
/** `owner/repo`, as GitHub allows them; anything else would end up inside a key. */
const repoFullName = z.string().regex(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, "must be owner/repo");
const repository = z.looseObject({ id: z.number().int().positive(), full_name: repoFullName });
const issue = z.looseObject({
  html_url: issueUrlSchema,
  node_id: plain.max(128).optional(),
  title: z.string().max(1024),
  labels: z.array(label).max(100).default([]),
  state_reason: z.string().nullish(),
  closed_at: isoTimestampSchema.nullish(),
  updated_at: isoTimestampSchema,
});
/** A user as payloads carry one; `null` for a deleted ("ghost") account. */
const account = z.looseObject({ id: z.number().int().nullish(), login: plain.max(100).nullish() });
const pullRequest = z.looseObject({
  // `url()` alone takes a NUL, a tab or a newline in the path.
  html_url: plain.url().max(512),
  number: z.number().int().positive(),
  body: z.string().nullish(),
  merged: z.boolean().nullish(),
  merged_at: isoTimestampSchema.nullish(),
  /** The pull request's author: their own review is no evidence. */
  user: account.nullish(),
});
/** A check's pull request; `base.repo.id` says which repository the pull request belongs to. */
const prStub = z.looseObject({
  number: z.number().int().positive(),
  base: z.looseObject({ repo: z.looseObject({ id: z.number().int().nullish() }).nullish() }).nullish(),
});
const app = z.looseObject({ slug: plain.max(100).nullish(), id: z.number().nullish() }).nullish();

const issuesPayload = z.looseObject({ action: z.string(), issue, label: label.optional(), repository });
const pullRequestPayload = z.looseObject({ action: z.string(), pull_request: pullRequest, repository });
const reviewPayload = z.looseObject({
  action: z.string(),
  review: z.looseObject({
    id: z.number().int(),
    state: z.string(),
    user: z.looseObject({ login: plain.max(100), id: z.number().int().nullish() }).nullish(),
    /** The reviewer's standing in the repository: `OWNER`, `MEMBER`, `COLLABORATOR`, `CONTRIBUTOR`, … */
    author_association: z.string().max(64).nullish(),
    submitted_at: isoTimestampSchema.nullish(),
  }),
  pull_request: pullRequest,
  repository,
});
const checkSuitePayload = z.looseObject({
  action: z.string(),
  check_suite: z.looseObject({
    id: z.number(),
    app,
    conclusion: plain.max(64).nullish(),
    updated_at: isoTimestampSchema,
    pull_requests: z.array(prStub).default([]),
  }),
  repository,
});
const checkRunPayload = z.looseObject({
  action: z.string(),
  check_run: z.looseObject({
    id: z.number(),
    name: plain.max(200),
    app,
    conclusion: plain.max(64).nullish(),
    completed_at: isoTimestampSchema.nullish(),
    pull_requests: z.array(prStub).default([]),
  }),
  repository,
});

/** Thrown for a payload that does not have the fields its event promises: permanent, never retried. */
export class MalformedPayloadError extends Error {
  override name = "MalformedPayloadError";
}

function parse<S extends z.ZodType>(schema: S, payload: unknown, event: string): z.output<S> {
  const result = schema.safeParse(payload);
  if (!result.success) {
    const where = result.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join(".")}: ${i.message}`)
      .join("; ");
    throw new MalformedPayloadError(`${event} payload is malformed: ${where}`);
  }
  return result.data;
}

/** `https://github.com` for a github.com URL; GitHub Enterprise keeps its own origin. */
const serverOf = (htmlUrl: string) => new URL(htmlUrl).origin;

function taskFromIssue(payload: z.output<typeof issuesPayload>, options: InterpretOptions): Intent {
  const names = payload.issue.labels.map((l) => l.name);
  const capabilities: string[] = [];
  const ignored: string[] = [];
  let budget: number | undefined;
  for (const name of names) {
    const lower = name.toLowerCase();
    if (lower.startsWith("cap:")) {
      const parsed = capabilitySchema.safeParse(lower.slice(4).trim());
      if (parsed.success) capabilities.push(parsed.data);
      else ignored.push(name);
    } else if (lower.startsWith("budget:")) {
      const parsed = amountSchema.safeParse(Number(lower.slice(7).trim().replace(/^\$/, "")));
      if (parsed.success && lower.slice(7).trim() !== "") budget = parsed.data;
      else ignored.push(name);
    }
  }
  if (capabilities.length === 0) {
    return {
      kind: "ignore",
      reason: `issue has the ${options.marketplaceLabel} label but no valid cap:<name> label`,
    };
  }
  return {
    kind: "create_task",
    task: {
      task_id: payload.issue.html_url,
      title: replaceControlCharacters(payload.issue.title, " ").trim(),
      required_capabilities: [...new Set(capabilities)],
      ...(budget !== undefined ? { budget } : {}),
      repository_id: payload.repository.id,
      ...(payload.issue.node_id ? { issue_node_id: payload.issue.node_id } : {}),
      ignored_labels: ignored,
    },
  };
}

function interpretIssues(payload: unknown, options: InterpretOptions): Intent[] {
  const p = parse(issuesPayload, payload, "issues");
  const taskId = p.issue.html_url;
  const intents: Intent[] = [];
  const isMarketplaceIssue = p.issue.labels.some((l) => l.name === options.marketplaceLabel);

  if ((p.action === "opened" || p.action === "labeled") && isMarketplaceIssue) {
    intents.push(taskFromIssue(p, options));
  }
  if (
    (p.action === "labeled" || p.action === "unlabeled") &&
    p.label?.name === options.humanInterventionLabel
  ) {
    const kind = p.action === "labeled" ? "human_intervention" : "human_intervention_removed";
    intents.push({
      kind: "evidence",
      taskIds: [taskId],
      patch: { lifecycle: [{ kind, at: p.issue.updated_at }] },
    });
  }
  if (p.action === "closed") {
    // `completed` (or no reason, as older payloads send) is success; `not_planned` and `duplicate` are not.
    const notPlanned = p.issue.state_reason === "not_planned" || p.issue.state_reason === "duplicate";
    intents.push({
      kind: "evidence",
      taskIds: [taskId],
      patch: {
        lifecycle: [
          {
            kind: notPlanned ? "closed_not_planned" : "closed_completed",
            at: p.issue.closed_at ?? p.issue.updated_at,
          },
        ],
      },
    });
  }
  if (p.action === "reopened") {
    intents.push({
      kind: "evidence",
      taskIds: [taskId],
      patch: { lifecycle: [{ kind: "reopened", at: p.issue.updated_at }] },
    });
  }
  return intents.length > 0 ? intents : [{ kind: "ignore", reason: `issues.${p.action} needs no action` }];
}

/**
 * The link a pull request body asks for: only issues of the pull request's own repository count; a
 * reference to another repository's issue is logged as ignored.
 */
function linkIntents(
  pr: z.output<typeof pullRequest>,
  repo: z.output<typeof repository>,
  ref: PullRequestRef,
): Intent[] {
  const { urls, foreign } = closingReferences(pr.body, serverOf(pr.html_url), repo.full_name);
  const intents: Intent[] = [];
  if (urls.length > 0) intents.push({ kind: "link_pr", pr: ref, taskIds: urls });
  if (foreign.length > 0) {
    intents.push({
      kind: "ignore",
      reason: `closing references outside ${repo.full_name} do not count: ${foreign.join(", ")}`,
    });
  }
  return intents;
}

function interpretPullRequest(payload: unknown): Intent[] {
  const p = parse(pullRequestPayload, payload, "pull_request");
  const pr = p.pull_request;
  const ref = { repoId: p.repository.id, number: pr.number };
  const intents = linkIntents(pr, p.repository, ref);
  // Merge evidence is kept on the pull request even before it names an issue: an edited body may link it later.
  if (p.action === "closed" && pr.merged && pr.merged_at) {
    intents.push({ kind: "evidence_for_pr", pr: ref, patch: { merges: { [pr.html_url]: pr.merged_at } } });
  }
  return intents.length > 0 ? intents : [{ kind: "ignore", reason: "pull request closes no issue" }];
}

/**
 * Why a submitted review is no evidence, or `undefined` when it counts: it must come from an `OWNER`,
 * `MEMBER` or `COLLABORATOR` of the repository, and not from the pull request's author (compared by
 * user id, else login; when the author is unknown the review cannot be shown to be independent).
 */
function reviewRefusal(p: z.output<typeof reviewPayload>): string | undefined {
  const { review } = p;
  const who = `review ${review.id} by ${review.user?.login ?? "an unknown user"}`;
  const association = review.author_association?.toUpperCase();
  if (!association || !TRUSTED_REVIEW_ASSOCIATIONS.has(association)) {
    return `${who} (author_association ${association ?? "missing"}) does not count: only OWNER, MEMBER or COLLABORATOR reviews do`;
  }
  const byAuthor = sameAccount(review.user ?? {}, p.pull_request.user ?? {});
  if (byAuthor === undefined) return `${who} does not count: the pull request's author is unknown`;
  if (byAuthor) return `${who} does not count: it is the pull request author's own review`;
  return undefined;
}

function interpretReview(payload: unknown): Intent[] {
  const p = parse(reviewPayload, payload, "pull_request_review");
  const ref = { repoId: p.repository.id, number: p.pull_request.number };
  const intents = linkIntents(p.pull_request, p.repository, ref);
  const state = p.review.state.toLowerCase();
  const reviewer = p.review.user?.login;
  const at = p.review.submitted_at;
  const decisive =
    p.action === "dismissed"
      ? "dismissed"
      : state === "approved" || state === "changes_requested"
        ? state
        : undefined;
  // A dismissal only ever removes a review that counted (reviews are keyed by id), so it is not vetted:
  // the reviewer's standing may have changed since the review was submitted.
  const refusal = decisive && decisive !== "dismissed" ? reviewRefusal(p) : undefined;
  if (refusal) {
    intents.push({ kind: "ignore", reason: refusal });
  } else if (decisive && reviewer && at) {
    intents.push({
      kind: "evidence_for_pr",
      pr: ref,
      patch: { reviews: [{ review_id: String(p.review.id), reviewer, state: decisive, at }] },
    });
  }
  return intents.length > 0 ? intents : [{ kind: "ignore", reason: `review state ${state} does not count` }];
}

function interpretChecks(
  event: "check_suite" | "check_run",
  payload: unknown,
  options: InterpretOptions,
): Intent[] {
  let name: string;
  let conclusion: string | null | undefined;
  let at: string | null | undefined;
  let prs: Array<z.output<typeof prStub>>;
  let repoId: number;
  let action: string;
  let slug: string | null | undefined;
  if (event === "check_suite") {
    const p = parse(checkSuitePayload, payload, event);
    ({ action } = p);
    // A suite is one app's checks on a commit; re-runs and later pushes replace its conclusion.
    name = `suite:${p.check_suite.app?.slug ?? p.check_suite.app?.id ?? p.check_suite.id}`;
    conclusion = p.check_suite.conclusion;
    at = p.check_suite.updated_at;
    prs = p.check_suite.pull_requests;
    repoId = p.repository.id;
    slug = p.check_suite.app?.slug;
  } else {
    const p = parse(checkRunPayload, payload, event);
    ({ action } = p);
    name = `run:${p.check_run.name}`;
    conclusion = p.check_run.conclusion;
    at = p.check_run.completed_at;
    prs = p.check_run.pull_requests;
    repoId = p.repository.id;
    slug = p.check_run.app?.slug;
  }
  if (action !== "completed" || !conclusion || !at)
    return [{ kind: "ignore", reason: `${event}.${action} has no conclusion` }];
  const trusted = options.trustedCheckApps;
  if (trusted && !(slug && trusted.includes(slug.toLowerCase()))) {
    return [
      {
        kind: "ignore",
        reason: `${event} from app ${slug ?? "(none)"} does not count: not a trusted check app (GITHUB_TRUSTED_CHECK_APPS)`,
      },
    ];
  }
  if (prs.length === 0) return [{ kind: "ignore", reason: `${event} is not attached to a pull request` }];
  // Pull request numbers are per repository: one whose base is another repository (a fork's branch
  // proposed upstream), or that does not say which (GitHub always does), is not this repository's
  // pull request of that number.
  const own = prs.filter((pr) => pr.base?.repo?.id === repoId);
  if (own.length === 0) {
    return [{ kind: "ignore", reason: `${event} is attached only to pull requests of other repositories` }];
  }
  return own.map((pr) => ({
    kind: "evidence_for_pr" as const,
    pr: { repoId, number: pr.number },
    patch: { checks: [{ name, conclusion, at: at as string }] },
  }));
}

/**
 * Maps one GitHub delivery to marketplace intents. Pure: no I/O, no clock. Throws
 * {@link MalformedPayloadError} when a handled event lacks the fields it needs.
 */
export function interpretDelivery(event: string, payload: unknown, options: InterpretOptions): Intent[] {
  switch (event) {
    case "issues":
      return interpretIssues(payload, options);
    case "pull_request":
      return interpretPullRequest(payload);
    case "pull_request_review":
      return interpretReview(payload);
    case "check_suite":
    case "check_run":
      return interpretChecks(event, payload, options);
    case "ping":
      return [{ kind: "ignore", reason: "ping" }];
    default:
      return [{ kind: "ignore", reason: `event ${event} is not handled` }];
  }
}
