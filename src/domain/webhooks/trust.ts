/**
 * Who may give the marketplace GitHub evidence: which repositories, which reviewers and which check
 * apps. Pure: parsing of the configured lists and the checks the intake worker applies. GitHub treats
 * owner, repository and app names case-insensitively, so everything here is compared lowercased.
 */

/** `owner`: user and organisation names: letters, digits and inner hyphens (`_` too, for GitHub Enterprise). */
const OWNER = /^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9_])?$/;
/** A repository name, as GitHub allows them (`.` and `..` are not names). */
const NAME = /^[a-z0-9_.-]{1,100}$/;
/** A GitHub App slug: lowercase letters, digits and hyphens (GitHub derives it from the app's name). */
const APP_SLUG = /^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9_])?$/;

/** Splits a comma-separated setting into trimmed entries; an empty entry (`a/b,,c/d`) is an error. */
function entries(value: string, what: string): string[] {
  const parts = value.split(",").map((part) => part.trim());
  // A trailing comma is a common way to write lists; anything else empty is a typo worth naming.
  if (parts.length > 1 && parts.at(-1) === "") parts.pop();
  const empty = parts.indexOf("");
  if (empty >= 0) throw new RangeError(`entry ${empty + 1} is empty; expected ${what}, comma-separated`);
  return parts;
}

/**
 * Parses `GITHUB_ALLOWED_REPOSITORIES`: comma-separated `owner/name` or `owner/*` entries, returned
 * lowercased and de-duplicated. Throws a `RangeError` naming the first bad entry (a URL, a bare name,
 * a wildcard anywhere but the whole name, a character GitHub does not allow).
 */
export function parseAllowedRepositories(value: string): string[] {
  const patterns = new Set<string>();
  for (const entry of entries(value, "owner/name or owner/*")) {
    const [owner, name, ...rest] = entry.toLowerCase().split("/");
    const valid =
      rest.length === 0 &&
      owner !== undefined &&
      OWNER.test(owner) &&
      name !== undefined &&
      (name === "*" || (NAME.test(name) && name !== "." && name !== ".."));
    if (!valid) throw new RangeError(`"${entry}" is not owner/name or owner/*`);
    patterns.add(`${owner}/${name}`);
  }
  return [...patterns];
}

/**
 * Parses `GITHUB_TRUSTED_CHECK_APPS`: comma-separated GitHub App slugs (`github-actions`), returned
 * lowercased and de-duplicated. Throws a `RangeError` naming the first bad entry.
 */
export function parseTrustedCheckApps(value: string): string[] {
  const slugs = new Set<string>();
  for (const entry of entries(value, "GitHub App slugs")) {
    const slug = entry.toLowerCase();
    if (!APP_SLUG.test(slug)) throw new RangeError(`"${entry}" is not a GitHub App slug`);
    slugs.add(slug);
  }
  return [...slugs];
}

/**
 * Whether `fullName` (`owner/name` as GitHub sends it) matches one of the parsed `patterns`
 * (`owner/name` or `owner/*`, lowercased).
 */
export function repositoryAllowed(patterns: readonly string[], fullName: string): boolean {
  const lower = fullName.toLowerCase();
  const slash = lower.indexOf("/");
  if (slash <= 0) return false;
  const owner = lower.slice(0, slash);
  return patterns.some((pattern) => pattern === lower || pattern === `${owner}/*`);
}

/**
 * `author_association` values whose reviews count as evidence: people with a standing in the
 * repository. `CONTRIBUTOR`, `FIRST_TIME_CONTRIBUTOR`, `FIRST_TIMER`, `MANNEQUIN` and `NONE` do not.
 */
export const TRUSTED_REVIEW_ASSOCIATIONS: ReadonlySet<string> = new Set(["OWNER", "MEMBER", "COLLABORATOR"]);

/** A GitHub account as a payload names it; either field may be missing (e.g. a deleted "ghost" user). */
export interface GitHubAccount {
  id?: number | null | undefined;
  login?: string | null | undefined;
}

/**
 * Whether two accounts are the same person: by id when both carry one (ids survive renames), else by
 * login, case-insensitively. `undefined` when neither pair can be compared.
 */
export function sameAccount(a: GitHubAccount, b: GitHubAccount): boolean | undefined {
  if (typeof a.id === "number" && typeof b.id === "number") return a.id === b.id;
  if (a.login && b.login) return a.login.toLowerCase() === b.login.toLowerCase();
  return undefined;
}
