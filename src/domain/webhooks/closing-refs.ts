/**
 * GitHub's closing keywords in a pull request body: `close`, `closes`, `closed`, `fix`, `fixes`,
 * `fixed`, `resolve`, `resolves`, `resolved`, followed by `#N`, `owner/repo#N` or an issue URL.
 */
const CLOSING_REF =
  /\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?:(?:https?:\/\/[^\s/]+\/)?([\w.-]+\/[\w.-]+)(?:#|\/issues\/)|#)(\d+)\b/gi;

const MAX_REFS = 20;

/**
 * Issue URLs a pull request closes, resolved against the PR's server and repository.
 * @param body the PR body (may be null)
 * @param serverUrl e.g. `https://github.com` (GitHub Enterprise keeps its own host)
 * @param repoFullName the base repository, `owner/repo`, used for bare `#N` references
 */
export function closingIssueUrls(
  body: string | null | undefined,
  serverUrl: string,
  repoFullName: string,
): string[] {
  if (!body) return [];
  const urls = new Set<string>();
  for (const match of body.matchAll(CLOSING_REF)) {
    const repo = match[1] ?? repoFullName;
    const number = Number(match[2]);
    const url = `${serverUrl}/${repo}/issues/${number}`;
    // Bodies are user text: keep references sane and few, since each one becomes a key we read.
    if (Number.isSafeInteger(number) && number > 0 && url.length <= 512) urls.add(url);
    if (urls.size >= MAX_REFS) break;
  }
  return [...urls];
}
