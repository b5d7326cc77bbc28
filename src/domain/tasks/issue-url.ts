/**
 * A GitHub issue html_url (github.com or GitHub Enterprise): https://host/owner/repo/issues/N. Free of
 * a schema library, so the task stream function checks task ids without loading zod.
 */
export const ISSUE_URL_PATTERN =
  /^https:\/\/[A-Za-z0-9.-]+(:\d+)?\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/issues\/[1-9]\d*$/;
export const ISSUE_URL_MAX_LENGTH = 512;
export const ISSUE_URL_MESSAGE = "must be a GitHub issue URL like https://github.com/owner/repo/issues/42";

/** Why `value` is not an issue URL, or undefined when it is one. */
export function issueUrlProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "must be a string";
  if (value.length > ISSUE_URL_MAX_LENGTH) return `must be at most ${ISSUE_URL_MAX_LENGTH} characters`;
  return ISSUE_URL_PATTERN.test(value) ? undefined : ISSUE_URL_MESSAGE;
}
