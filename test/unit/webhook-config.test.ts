import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { DEFAULT_WEBHOOK_MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES } from "../../src/http/webhook-request.js";

describe("WEBHOOK_MAX_BODY_BYTES", () => {
  it("defaults to 1 MiB", () => {
    expect(loadConfig({}).webhookMaxBodyBytes).toBe(1_048_576);
    expect(DEFAULT_WEBHOOK_MAX_BODY_BYTES).toBe(1_048_576);
  });

  it.each([
    ["65536", 65_536],
    ["4194304", 4_194_304],
  ])("accepts %s", (value, expected) => {
    expect(loadConfig({ WEBHOOK_MAX_BODY_BYTES: value }).webhookMaxBodyBytes).toBe(expected);
  });

  it("refuses more than the receiver can take (4 MiB), naming the limit", () => {
    expect(MAX_WEBHOOK_BODY_BYTES).toBe(4_194_304);
    expect(() => loadConfig({ WEBHOOK_MAX_BODY_BYTES: "4194305" })).toThrow(
      /WEBHOOK_MAX_BODY_BYTES: must be at most 4194304 \(4 MiB\)/,
    );
  });

  it.each([["0"], ["-1"], ["1.5"], ["1MB"]])("refuses %j", (value) => {
    expect(() => loadConfig({ WEBHOOK_MAX_BODY_BYTES: value })).toThrow(/WEBHOOK_MAX_BODY_BYTES/);
  });
});
