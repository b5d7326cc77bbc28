import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Compact GitHub webhook payloads for `npm run demo` and the sample files in `examples/webhooks/` (which
 * the ops CLI's `webhook send` posts). Each carries every field the receiver and the intake worker read
 * (`slim-payload.ts`, `interpret.ts`) plus the identifying fields a reader of a real delivery expects
 * (ids, node ids, API URLs, users), and nothing else. Ids are derived from names, so the same inputs
 * give the same payload. Real payloads for tests are in test/fixtures/github.ts.
 */

export interface RepositorySpec {
  id: number;
  owner: string;
  name: string;
}

export interface IssueSpec {
  repository: RepositorySpec;
  number: number;
  title: string;
  /** Label names, e.g. `agentforge`, `cap:typescript`, `budget:100`. */
  labels: readonly string[];
  body: string;
  author: string;
  openedAt: Date;
}

export interface PullRequestSpec {
  repository: RepositorySpec;
  number: number;
  title: string;
  /** Where the closing reference goes: `Fixes #42`. */
  body: string;
  author: string;
  branch: string;
  headSha: string;
  openedAt: Date;
}

type Json = Record<string, unknown>;

const API = "https://api.github.com";
const WEB = "https://github.com";

/** GitHub's timestamp format: UTC, whole seconds. */
function githubTime(at: Date): string {
  return at.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A stable 32-bit id for a name, standing in for the database ids GitHub assigns. */
function idOf(...parts: Array<string | number>): number {
  return createHash("sha256").update(parts.join("/")).digest().readUInt32BE(0);
}

/** A GraphQL node id in GitHub's `<type>_<base64>` shape. */
function nodeIdOf(type: string, id: number): string {
  return `${type}_${Buffer.from(String(id)).toString("base64url")}`;
}

function user(login: string, type: "User" | "Organization" | "Bot" = "User"): Json {
  const id = idOf("user", login);
  return {
    login,
    id,
    node_id: nodeIdOf(type === "Organization" ? "O" : "U", id),
    html_url: `${WEB}/${login}`,
    type,
  };
}

function repository(repo: RepositorySpec): Json {
  const fullName = `${repo.owner}/${repo.name}`;
  return {
    id: repo.id,
    node_id: nodeIdOf("R", repo.id),
    name: repo.name,
    full_name: fullName,
    private: false,
    owner: user(repo.owner, "Organization"),
    html_url: `${WEB}/${fullName}`,
    url: `${API}/repos/${fullName}`,
    default_branch: "main",
  };
}

/** The short repository object check payloads put in their pull request stubs. */
function repositoryStub(repo: RepositorySpec): Json {
  return { id: repo.id, url: `${API}/repos/${repo.owner}/${repo.name}`, name: repo.name };
}

function label(repo: RepositorySpec, name: string): Json {
  const id = idOf("label", repo.id, name);
  return {
    id,
    node_id: nodeIdOf("LA", id),
    url: `${API}/repos/${repo.owner}/${repo.name}/labels/${encodeURIComponent(name)}`,
    name,
    color: "ededed",
    default: false,
    description: null,
  };
}

/** An issue's URL on github.com: the marketplace's task id. */
export function issueUrl(issue: Pick<IssueSpec, "repository" | "number">): string {
  const { owner, name } = issue.repository;
  return `${WEB}/${owner}/${name}/issues/${issue.number}`;
}

type StateReason = "completed" | "not_planned";

function issueObject(
  issue: IssueSpec,
  { closedAt, stateReason }: { closedAt?: Date; stateReason?: StateReason },
): Json {
  const { owner, name } = issue.repository;
  const id = idOf("issue", issue.repository.id, issue.number);
  return {
    url: `${API}/repos/${owner}/${name}/issues/${issue.number}`,
    repository_url: `${API}/repos/${owner}/${name}`,
    html_url: issueUrl(issue),
    id,
    node_id: nodeIdOf("I", id),
    number: issue.number,
    title: issue.title,
    user: user(issue.author),
    labels: issue.labels.map((l) => label(issue.repository, l)),
    state: closedAt ? "closed" : "open",
    locked: false,
    assignees: [],
    comments: 0,
    created_at: githubTime(issue.openedAt),
    updated_at: githubTime(closedAt ?? issue.openedAt),
    closed_at: closedAt ? githubTime(closedAt) : null,
    author_association: "MEMBER",
    body: issue.body,
    state_reason: stateReason ?? null,
  };
}

/** `issues.opened`: with the marketplace label and `cap:` labels it becomes a task. */
export function issueOpenedPayload(issue: IssueSpec): Json {
  return {
    action: "opened",
    issue: issueObject(issue, {}),
    repository: repository(issue.repository),
    sender: user(issue.author),
  };
}

/** `issues.closed`: as completed (the task's SUCCESS) or not planned (FAILURE). */
export function issueClosedPayload(
  issue: IssueSpec,
  {
    closedAt,
    closedBy,
    stateReason = "completed",
  }: { closedAt: Date; closedBy: string; stateReason?: StateReason },
): Json {
  return {
    action: "closed",
    issue: issueObject(issue, { closedAt, stateReason }),
    repository: repository(issue.repository),
    sender: user(closedBy),
  };
}

function branchRef(pr: PullRequestSpec, ref: string, sha: string): Json {
  return { label: `${pr.repository.owner}:${ref}`, ref, sha, repo: repository(pr.repository) };
}

function pullRequestObject(pr: PullRequestSpec, mergedAt?: Date): Json {
  const { owner, name } = pr.repository;
  const id = idOf("pull", pr.repository.id, pr.number);
  const updatedAt = mergedAt ?? pr.openedAt;
  return {
    url: `${API}/repos/${owner}/${name}/pulls/${pr.number}`,
    id,
    node_id: nodeIdOf("PR", id),
    html_url: `${WEB}/${owner}/${name}/pull/${pr.number}`,
    number: pr.number,
    state: mergedAt ? "closed" : "open",
    locked: false,
    title: pr.title,
    user: user(pr.author),
    body: pr.body,
    created_at: githubTime(pr.openedAt),
    updated_at: githubTime(updatedAt),
    closed_at: mergedAt ? githubTime(mergedAt) : null,
    merged_at: mergedAt ? githubTime(mergedAt) : null,
    draft: false,
    head: branchRef(pr, pr.branch, pr.headSha),
    base: branchRef(pr, "main", createHash("sha1").update(`base:${pr.headSha}`).digest("hex")),
    author_association: "CONTRIBUTOR",
  };
}

/** `pull_request.closed`, merged: with a closing reference in its body it is merge evidence for the issue. */
export function pullRequestMergedPayload(
  pr: PullRequestSpec,
  { mergedAt, mergedBy }: { mergedAt: Date; mergedBy: string },
): Json {
  return {
    action: "closed",
    number: pr.number,
    pull_request: { ...pullRequestObject(pr, mergedAt), merged: true, merged_by: user(mergedBy) },
    repository: repository(pr.repository),
    sender: user(mergedBy),
  };
}

/** `pull_request_review.submitted`: an approval or a request for changes on the open pull request. */
export function pullRequestReviewPayload(
  pr: PullRequestSpec,
  {
    reviewer,
    state,
    submittedAt,
  }: { reviewer: string; state: "approved" | "changes_requested"; submittedAt: Date },
): Json {
  const id = idOf("review", pr.repository.id, pr.number, reviewer, submittedAt.getTime());
  return {
    action: "submitted",
    review: {
      id,
      node_id: nodeIdOf("PRR", id),
      user: user(reviewer),
      body: state === "approved" ? "Looks good." : "Please address the comments.",
      commit_id: pr.headSha,
      submitted_at: githubTime(submittedAt),
      state,
      html_url: `${WEB}/${pr.repository.owner}/${pr.repository.name}/pull/${pr.number}#pullrequestreview-${id}`,
      author_association: "MEMBER",
    },
    pull_request: pullRequestObject(pr),
    repository: repository(pr.repository),
    sender: user(reviewer),
  };
}

/** `check_suite.completed` for the pull request's head commit, from GitHub Actions. */
export function checkSuiteCompletedPayload(
  pr: PullRequestSpec,
  { conclusion, completedAt }: { conclusion: "success" | "failure"; completedAt: Date },
): Json {
  const id = idOf("check_suite", pr.repository.id, pr.headSha);
  const { owner, name } = pr.repository;
  return {
    action: "completed",
    check_suite: {
      id,
      node_id: nodeIdOf("CS", id),
      head_branch: pr.branch,
      head_sha: pr.headSha,
      status: "completed",
      conclusion,
      url: `${API}/repos/${owner}/${name}/check-suites/${id}`,
      app: {
        id: 15368,
        slug: "github-actions",
        name: "GitHub Actions",
        owner: user("github", "Organization"),
      },
      pull_requests: [
        {
          url: `${API}/repos/${owner}/${name}/pulls/${pr.number}`,
          id: idOf("pull", pr.repository.id, pr.number),
          number: pr.number,
          head: { ref: pr.branch, sha: pr.headSha, repo: repositoryStub(pr.repository) },
          // The worker counts a check only for pull requests whose base is the check's own repository.
          base: { ref: "main", repo: repositoryStub(pr.repository) },
        },
      ],
      created_at: githubTime(pr.openedAt),
      updated_at: githubTime(completedAt),
    },
    repository: repository(pr.repository),
    sender: user("github-actions[bot]", "Bot"),
  };
}

const SAMPLE_REPOSITORY: RepositorySpec = { id: 812_345_678, owner: "octo-org", name: "agentforge-sandbox" };

const SAMPLE_ISSUE: IssueSpec = {
  repository: SAMPLE_REPOSITORY,
  number: 42,
  title: "Add retry with backoff to the webhook client",
  labels: ["agentforge", "cap:typescript", "budget:100"],
  body: "Calls to the partner API fail on transient 503s. Retry them with exponential backoff.",
  author: "octocat",
  openedAt: new Date("2025-07-01T09:00:00Z"),
};

const SAMPLE_PULL_REQUEST: PullRequestSpec = {
  repository: SAMPLE_REPOSITORY,
  number: 43,
  title: "Retry transient webhook client failures",
  body: "Retries 429/503 responses with jittered exponential backoff.\n\nFixes #42",
  author: "agentforge-bot",
  branch: "agentforge/issue-42",
  headSha: "6dcb09b5b57875f334f61aebed695e2e4193db5e",
  openedAt: new Date("2025-07-01T10:30:00Z"),
};

/**
 * The story of one task in three deliveries, in the order GitHub would send them: the labelled issue
 * is opened, the pull request that fixes it is merged, the issue is closed as completed.
 */
export const SAMPLE_WEBHOOKS: ReadonlyArray<{ file: string; event: string; payload: Json }> = [
  { file: "issue-opened.json", event: "issues", payload: issueOpenedPayload(SAMPLE_ISSUE) },
  {
    file: "pull-request-merged.json",
    event: "pull_request",
    payload: pullRequestMergedPayload(SAMPLE_PULL_REQUEST, {
      mergedAt: new Date("2025-07-01T11:45:00Z"),
      mergedBy: "octocat",
    }),
  },
  {
    file: "issue-closed.json",
    event: "issues",
    payload: issueClosedPayload(SAMPLE_ISSUE, {
      closedAt: new Date("2025-07-01T11:45:02Z"),
      closedBy: "octocat",
    }),
  },
];

/** Writes {@link SAMPLE_WEBHOOKS} as pretty JSON files into `dir` (created if missing); returns their paths. */
export function writeSamplePayloads(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return SAMPLE_WEBHOOKS.map(({ file, payload }) => {
    const path = join(dir, file);
    writeFileSync(path, `${JSON.stringify(payload, null, 2)}\n`);
    return path;
  });
}
