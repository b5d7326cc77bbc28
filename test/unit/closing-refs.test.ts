import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { issueUrlSchema } from "../../src/domain/common.schema.js";
import {
  CLOSING_REFS_SCAN_LIMIT,
  closingIssueUrls,
  closingReferences,
} from "../../src/domain/webhooks/closing-refs.js";

const server = "https://github.com";

describe("closing references in pull request bodies", () => {
  it.each([
    ["Fixes #12", ["https://github.com/o/r/issues/12"]],
    ["closes o/r#3", ["https://github.com/o/r/issues/3"]],
    ["Resolved: #4 and fix #5", ["https://github.com/o/r/issues/4", "https://github.com/o/r/issues/5"]],
    ["FIXED https://github.com/o/r/issues/9", ["https://github.com/o/r/issues/9"]],
    ["Fixes #12, fixes #12", ["https://github.com/o/r/issues/12"]],
  ])("%j", (body, expected) => {
    expect(closingIssueUrls(body, server, "o/r")).toEqual(expected);
  });

  it.each([["Related to #12"], ["prefix#12"], ["fixes # 12"], [""], [null]])(
    "finds nothing in %j",
    (body) => {
      expect(closingIssueUrls(body, server, "o/r")).toEqual([]);
    },
  );

  it("counts only issues of the pull request's own repository; the others are reported as foreign", () => {
    const body = [
      "closes octo/other#3",
      "fixes https://github.com/a/b/issues/9",
      "fixes https://ghe.example.com/o/r/issues/10",
      "fixes #1",
    ].join("\n");

    expect(closingReferences(body, server, "o/r")).toEqual({
      urls: ["https://github.com/o/r/issues/1"],
      foreign: ["octo/other#3", "github.com/a/b#9", "ghe.example.com/o/r#10"],
    });
    expect(closingIssueUrls("closes octo/other#3", server, "o/r")).toEqual([]);
  });

  it("matches the own repository and host in any letter case, and answers with GitHub's spelling", () => {
    const body = "fixes CODERTOCAT/hello-world#7, fixes https://GitHub.com/Codertocat/HELLO-WORLD/issues/8";

    expect(closingReferences(body, server, "Codertocat/Hello-World")).toEqual({
      urls: [
        "https://github.com/Codertocat/Hello-World/issues/7",
        "https://github.com/Codertocat/Hello-World/issues/8",
      ],
      foreign: [],
    });
  });

  it("keeps GitHub Enterprise hosts and caps the number of references", () => {
    const body = Array.from({ length: 50 }, (_, i) => `fixes #${i + 1}`).join("\n");

    expect(closingIssueUrls("fixes #1", "https://ghe.example.com", "o/r")).toEqual([
      "https://ghe.example.com/o/r/issues/1",
    ]);
    expect(closingIssueUrls(body, server, "o/r")).toHaveLength(20);
  });
});

describe("closing references: bounds", () => {
  const N = CLOSING_REFS_SCAN_LIMIT;

  /** Bodies that made the old `\s*:?\s+` pattern (or a naive rewrite) backtrack quadratically. */
  const adversarial: [string, string][] = [
    ["a keyword and 65k spaces", `fixes${" ".repeat(N)}`],
    ["a keyword, spaces, a colon, spaces", `fixes${" ".repeat(N / 2)}:${" ".repeat(N / 2)}`],
    ["a keyword and 65k mixed whitespace", `fixes${"\t\n ".repeat(N / 3)}`],
    ["keywords and colons", "fix: \t".repeat(N / 6)],
    ["a keyword and one long word", `fixes ${"a".repeat(N)}`],
    ["a keyword and a long repository name", `fixes a/${"b".repeat(N)}`],
    ["a keyword and a long host", `fixes https://${"x".repeat(N)}`],
    ["a keyword and a long number", `fixes #${"1".repeat(N)}a`],
    ["keywords inside one word", `fixes ${"fix.".repeat(N / 4)}`],
    ["a keyword and slashes", `fixes ${"a/".repeat(N / 2)}`],
    ["many references", "fixes #1 ".repeat(N / 9)],
  ];

  it.each(adversarial)("searches %s in well under 50 ms", (_, body) => {
    closingIssueUrls(body, server, "o/r"); // warm up the regexp
    const started = performance.now();
    closingIssueUrls(body, server, "o/r");
    expect(performance.now() - started).toBeLessThan(50);
  });

  it("searches only the first 65,536 code units", () => {
    const filler = `${"x".repeat(N - " fixes #7 ".length)} `;

    expect(closingIssueUrls(`${filler}fixes #7 `, server, "o/r")).toEqual([
      "https://github.com/o/r/issues/7",
    ]);
    expect(closingIssueUrls(`${filler}  fixes #7`, server, "o/r")).toEqual([]);
  });

  it("drops a reference cut at the limit, whose number may be incomplete", () => {
    const cutAt = (tail: string) => `${"x".repeat(N - " fixes #12".length)} ${tail}`;

    expect(closingIssueUrls(cutAt("fixes #12345"), server, "o/r")).toEqual([]);
    expect(closingIssueUrls(cutAt("fixes #12"), server, "o/r")).toEqual([]);
    expect(closingIssueUrls(cutAt("fixes #1 "), server, "o/r")).toEqual(["https://github.com/o/r/issues/1"]);
    // The receiver queues only the first 65,536 code units; both copies give the same answer.
    const long = `${cutAt("fixes #12345")} and more`;
    expect(closingIssueUrls(long.slice(0, N), server, "o/r")).toEqual(closingIssueUrls(long, server, "o/r"));
  });

  it("returns only valid issue URLs, whatever the server URL or repository", () => {
    const valid = (urls: string[]) => urls.every((url) => issueUrlSchema.safeParse(url).success);

    expect(closingIssueUrls("fixes #1", "http://github.com", "o/r")).toEqual([]);
    expect(closingIssueUrls("fixes #1", "https://git hub.com", "o/r")).toEqual([]);
    expect(closingIssueUrls("fixes #1", server, "not a repo")).toEqual([]);
    expect(closingIssueUrls(`fixes #1 fixes ${"a".repeat(600)}/b#2`, server, "o/r")).toEqual([
      "https://github.com/o/r/issues/1",
    ]);
    expect(closingIssueUrls(`fixes #${"9".repeat(20)} fixes #0 fixes #007`, server, "o/r")).toEqual([
      "https://github.com/o/r/issues/7",
    ]);
    const origin = fc.oneof(
      fc.constant(server),
      fc.domain().map((host) => `https://${host}`),
      fc.string({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), origin, fc.string({ maxLength: 40 }), (body, url, repo) => {
        expect(valid(closingIssueUrls(`fixes #3 fixes a/b#4 ${body}`, url, repo))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
