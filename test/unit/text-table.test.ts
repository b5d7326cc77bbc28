import { describe, expect, it } from "vitest";
import { textTable, textTableLines } from "../../src/lib/text-table.js";

describe("textTable", () => {
  it("pads columns to their widest cell, header included, two spaces apart, trailing spaces trimmed", () => {
    expect(
      textTable(
        ["ID", "NAME"],
        [
          ["a", "x"],
          ["long-id", ""],
        ],
      ),
    ).toBe(["ID       NAME", "a        x", "long-id"].join("\n"));
  });

  it("draws a rule under the header and right-aligns the columns asked for", () => {
    expect(
      textTableLines(
        ["fn", "bytes", "note"],
        [
          ["a", "7", "small"],
          ["bb", "1024", ""],
        ],
        { align: ["left", "right"], rule: true },
      ),
    ).toEqual(["fn  bytes  note", "--  -----  -----", "a       7  small", "bb   1024"]);
  });

  it("takes the alignment from a function of the column", () => {
    expect(textTable(["n"], [["1"], ["100"]], { align: () => "right" })).toBe("  n\n  1\n100");
  });
});
