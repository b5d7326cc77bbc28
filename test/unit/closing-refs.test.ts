import { describe, expect, it } from "vitest";
import { closingIssueUrls } from "../../src/domain/webhooks/closing-refs.js";

const server = "https://github.com";

describe("closing references in pull request bodies", () => {
  it.each([
    ["Fixes #12", ["https://github.com/o/r/issues/12"]],
    ["closes octo/other#3", ["https://github.com/octo/other/issues/3"]],
    ["Resolved: #4 and fix #5", ["https://github.com/o/r/issues/4", "https://github.com/o/r/issues/5"]],
    ["FIXED https://github.com/a/b/issues/9", ["https://github.com/a/b/issues/9"]],
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

  it("keeps GitHub Enterprise hosts and caps the number of references", () => {
    const body = Array.from({ length: 50 }, (_, i) => `fixes #${i + 1}`).join("\n");

    expect(closingIssueUrls("fixes #1", "https://ghe.example.com", "o/r")).toEqual([
      "https://ghe.example.com/o/r/issues/1",
    ]);
    expect(closingIssueUrls(body, server, "o/r")).toHaveLength(20);
  });
});
