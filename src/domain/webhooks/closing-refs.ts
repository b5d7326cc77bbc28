import { issueUrlProblem } from "../tasks/issue-url.js";

/**
 * How much of a pull request body is searched for closing references, in UTF-16 code units (JavaScript
 * string length). GitHub limits a body to 65,536 characters, so this is the whole of any real body; it
 * bounds the work on anything longer, and it is also how much of the body the receiver queues.
 */
export const CLOSING_REFS_SCAN_LIMIT = 65_536;

/**
 * GitHub's closing keywords in a pull request body: `close`, `closes`, `closed`, `fix`, `fixes`,
 * `fixed`, `resolve`, `resolves`, `resolved`, then whitespace with an optional colon (`Fixes #1`,
 * `Fixes: #1`), then `#N`, `owner/repo#N` or an issue URL (its host, repository and number captured).
 *
 * Linear time: the separator is written as `\s*:\s+|\s+` rather than `\s*:?\s+`, which means the same
 * but lets a backtracking engine split a run of whitespace between two quantifiers in quadratically
 * many ways. Every other quantified run ends at a character it cannot contain (`/`, `#`, a non-digit),
 * and each can only start right after a keyword and its whitespace, so no text is rescanned more than
 * a constant number of times.
 */
const CLOSING_REF =
  /\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)(?:\s*:\s+|\s+)(?:(?:https?:\/\/([^\s/]+)\/)?([\w.-]+\/[\w.-]+)(?:#|\/issues\/)|#)(\d+)\b/gi;

const MAX_REFS = 20;

/** What a pull request body closes, split by whether GitHub would let it count for this marketplace. */
export interface ClosingReferences {
  /** Issues in the pull request's own repository, as issue URLs (the task ids). */
  urls: string[];
  /**
   * References to issues elsewhere (another repository, or an issue URL on another host), as written
   * (`owner/repo#N`, `host/owner/repo#N`), for the log. They never count: a pull request in one
   * repository is no evidence about another repository's issue.
   */
  foreign: string[];
}

/** `github.com` from `https://github.com`; compared case-insensitively, like host names. */
const hostOf = (serverUrl: string) => serverUrl.replace(/^https?:\/\//i, "").toLowerCase();

/**
 * Closing references in a pull request body, resolved against the PR's server and repository. Only
 * references to an issue in the PR's own repository count (`#N`, `owner/repo#N` or an issue URL on the
 * same host naming that repository in any letter case); the URL is built from `repoFullName`, GitHub's
 * own spelling, so it equals the issue's `html_url`. Only the first {@link CLOSING_REFS_SCAN_LIMIT} code
 * units are searched; when the body is at least that long, a reference ending exactly at the limit is
 * dropped, since its number may have been cut short (a queued body is already cut there, so the full
 * and the queued body give the same answer). Every URL is a valid issue URL (`issueUrlProblem`, the rule of `issueUrlSchema`), so a
 * strange server URL or repository name yields no reference rather than a bad task id.
 * @param body the PR body (may be null)
 * @param serverUrl e.g. `https://github.com` (GitHub Enterprise keeps its own host)
 * @param repoFullName the base repository, `owner/repo`
 */
export function closingReferences(
  body: string | null | undefined,
  serverUrl: string,
  repoFullName: string,
): ClosingReferences {
  if (!body) return { urls: [], foreign: [] };
  const text = body.length > CLOSING_REFS_SCAN_LIMIT ? body.slice(0, CLOSING_REFS_SCAN_LIMIT) : body;
  const cut = text.length === CLOSING_REFS_SCAN_LIMIT;
  const ownRepo = repoFullName.toLowerCase();
  const ownHost = hostOf(serverUrl);
  const urls = new Set<string>();
  const foreign = new Set<string>();
  for (const match of text.matchAll(CLOSING_REF)) {
    if (cut && match.index + match[0].length === text.length) continue;
    const [, host, repo, digits] = match;
    const number = Number(digits);
    // Bodies are user text: keep references sane and few, since each one becomes a key we read.
    if (!Number.isSafeInteger(number) || number <= 0) continue;
    const sameHost = host === undefined || host.toLowerCase() === ownHost;
    if (!sameHost || (repo !== undefined && repo.toLowerCase() !== ownRepo)) {
      const written = `${host ? `${host}/` : ""}${repo ?? repoFullName}#${number}`;
      if (foreign.size < MAX_REFS) foreign.add(written.slice(0, 256));
      continue;
    }
    const url = `${serverUrl}/${repoFullName}/issues/${number}`;
    if (urls.has(url) || issueUrlProblem(url) !== undefined) continue;
    urls.add(url);
    if (urls.size >= MAX_REFS) break;
  }
  return { urls: [...urls], foreign: [...foreign] };
}

/** The issue URLs of {@link closingReferences}: issues of the pull request's own repository only. */
export function closingIssueUrls(
  body: string | null | undefined,
  serverUrl: string,
  repoFullName: string,
): string[] {
  return closingReferences(body, serverUrl, repoFullName).urls;
}
