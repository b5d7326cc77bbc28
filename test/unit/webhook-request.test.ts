import { describe, expect, it } from "vitest";
import { HttpError } from "../../src/http/http-error.js";
import {
  assertDeclaredLength,
  assertJsonContentType,
  assertPost,
  decodeBody,
  normalizeHeaders,
  parseJsonObject,
  readDeliveryHeaders,
  safeDeliveryKeys,
} from "../../src/http/webhook-request.js";
import { apiGatewayEvent } from "../fixtures/github.js";

/** The status and code an HTTP check throws, or "ok". */
function outcome(check: () => unknown): string {
  try {
    check();
    return "ok";
  } catch (error) {
    if (error instanceof HttpError) return `${error.statusCode} ${error.code}`;
    throw error;
  }
}

const headers = (entries: Record<string, string>) => normalizeHeaders(entries);

describe("header names", () => {
  it("are matched whatever their case", () => {
    const normalized = normalizeHeaders({
      "X-GitHub-Event": "issues",
      "x-github-delivery": "abc",
      Skip: undefined,
    });

    expect(normalized.get("x-github-event")).toBe("issues");
    expect(normalized.get("x-github-delivery")).toBe("abc");
    expect(normalized.has("skip")).toBe(false);
  });

  it("given twice in different cases are joined, so the ambiguous value fails validation", () => {
    const normalized = normalizeHeaders({ "X-GitHub-Event": "issues", "x-github-event": "ping" });

    expect(normalized.get("x-github-event")).toBe("issues,ping");
    expect(outcome(() => readDeliveryHeaders(normalized))).toBe("400 INVALID_HEADER");
  });
});

describe("method", () => {
  it.each([
    ["POST", "ok"],
    ["GET", "405 METHOD_NOT_ALLOWED"],
    ["PUT", "405 METHOD_NOT_ALLOWED"],
  ])("%s → %s", (method, expected) => {
    expect(outcome(() => assertPost(apiGatewayEvent({ method })))).toBe(expected);
  });

  it("405 names the allowed method", () => {
    try {
      assertPost(apiGatewayEvent({ method: "GET" }));
    } catch (error) {
      expect((error as HttpError).headers).toEqual({ allow: "POST" });
    }
    expect.assertions(1);
  });
});

describe("body size", () => {
  const max = 100;

  it.each([
    ["100", "ok"],
    ["101", "413 PAYLOAD_TOO_LARGE"],
    ["99999999999999", "413 PAYLOAD_TOO_LARGE"],
    [" 12 ", "ok"],
    ["-1", "400 INVALID_HEADER"],
    ["1e3", "400 INVALID_HEADER"],
    ["ten", "400 INVALID_HEADER"],
    ["", "400 INVALID_HEADER"],
  ])("Content-Length %j → %s", (value, expected) => {
    expect(outcome(() => assertDeclaredLength(headers({ "content-length": value }), max))).toBe(expected);
  });

  it("a missing Content-Length is fine; the body itself is measured", () => {
    expect(outcome(() => assertDeclaredLength(headers({}), max))).toBe("ok");
  });

  it("measures text bodies in UTF-8 bytes, not characters", () => {
    const fifty = "é".repeat(50);
    const fiftyOne = "é".repeat(51);

    expect(decodeBody(apiGatewayEvent({ body: fifty }), max)).toHaveLength(100);
    expect(outcome(() => decodeBody(apiGatewayEvent({ body: fiftyOne }), max))).toBe("413 PAYLOAD_TOO_LARGE");
  });

  it("measures base64 bodies after decoding", () => {
    const exactly = Buffer.alloc(max, 7).toString("base64");
    const over = Buffer.alloc(max + 1, 7).toString("base64");

    expect(exactly.length).toBeGreaterThan(max);
    expect(decodeBody(apiGatewayEvent({ body: exactly, isBase64Encoded: true }), max)).toEqual(
      Buffer.alloc(max, 7),
    );
    expect(outcome(() => decodeBody(apiGatewayEvent({ body: over, isBase64Encoded: true }), max))).toBe(
      "413 PAYLOAD_TOO_LARGE",
    );
  });

  it("a missing body is empty", () => {
    expect(decodeBody(apiGatewayEvent({}), max)).toHaveLength(0);
  });
});

describe("content type", () => {
  it.each([
    ["application/json", "ok"],
    ["application/json; charset=utf-8", "ok"],
    ["Application/JSON ;charset=UTF-8", "ok"],
    ["application/x-www-form-urlencoded", "415 UNSUPPORTED_MEDIA_TYPE"],
    ["text/plain", "415 UNSUPPORTED_MEDIA_TYPE"],
    ["application/jsonx", "415 UNSUPPORTED_MEDIA_TYPE"],
    ["", "415 UNSUPPORTED_MEDIA_TYPE"],
  ])("%j → %s", (contentType, expected) => {
    expect(outcome(() => assertJsonContentType(headers({ "content-type": contentType })))).toBe(expected);
  });

  it("a missing Content-Type is refused", () => {
    expect(outcome(() => assertJsonContentType(headers({})))).toBe("415 UNSUPPORTED_MEDIA_TYPE");
  });

  it("tells a form-encoded sender how to fix the hook", () => {
    expect(() =>
      assertJsonContentType(headers({ "content-type": "application/x-www-form-urlencoded" })),
    ).toThrow(/set the GitHub webhook's content type to application\/json/);
  });
});

describe("X-GitHub-Event and X-GitHub-Delivery", () => {
  const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

  it("reads well-formed values", () => {
    expect(
      readDeliveryHeaders(headers({ "x-github-event": "pull_request", "x-github-delivery": delivery })),
    ).toEqual({
      event: "pull_request",
      deliveryId: delivery,
    });
  });

  it.each([
    [{ "x-github-delivery": delivery }, "400 MISSING_HEADER"],
    [{ "x-github-event": "", "x-github-delivery": delivery }, "400 MISSING_HEADER"],
    [{ "x-github-event": "Issues", "x-github-delivery": delivery }, "400 INVALID_HEADER"],
    [{ "x-github-event": "issue-comment", "x-github-delivery": delivery }, "400 INVALID_HEADER"],
    [{ "x-github-event": " issues", "x-github-delivery": delivery }, "400 INVALID_HEADER"],
    [{ "x-github-event": "a".repeat(65), "x-github-delivery": delivery }, "400 INVALID_HEADER"],
    [{ "x-github-event": "issues" }, "400 MISSING_HEADER"],
    [{ "x-github-event": "issues", "x-github-delivery": "DELIVERY#1" }, "400 INVALID_HEADER"],
    [{ "x-github-event": "issues", "x-github-delivery": "-leading-dash" }, "400 INVALID_HEADER"],
    [{ "x-github-event": "issues", "x-github-delivery": "a".repeat(129) }, "400 INVALID_HEADER"],
    [{ "x-github-event": "issues", "x-github-delivery": "a".repeat(128) }, "ok"],
    [{ "x-github-event": "a".repeat(64), "x-github-delivery": "1" }, "ok"],
  ])("%j → %s", (entries, expected) => {
    expect(outcome(() => readDeliveryHeaders(headers(entries)))).toBe(expected);
  });

  it("only well-formed values reach the logs", () => {
    expect(
      safeDeliveryKeys(headers({ "x-github-event": "issues", "x-github-delivery": "<script>" })),
    ).toEqual({
      event: "issues",
    });
  });
});

describe("JSON body", () => {
  const bytes = (text: string) => Buffer.from(text, "utf8");

  it("parses an object", () => {
    expect(parseJsonObject(bytes('{"action":"opened","n":1}'))).toEqual({ action: "opened", n: 1 });
  });

  it.each([
    ["truncated JSON", bytes('{"action":'), "400 MALFORMED_JSON"],
    ["an empty body", bytes(""), "400 MALFORMED_JSON"],
    ["form encoding", bytes("payload=%7B%7D"), "400 MALFORMED_JSON"],
    ["invalid UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), "400 MALFORMED_JSON"],
    ["an array", bytes("[1,2]"), "400 INVALID_PAYLOAD"],
    ["null", bytes("null"), "400 INVALID_PAYLOAD"],
    ["a string", bytes('"issues"'), "400 INVALID_PAYLOAD"],
    ["a number", bytes("42"), "400 INVALID_PAYLOAD"],
  ])("refuses %s", (_, body, expected) => {
    expect(outcome(() => parseJsonObject(body))).toBe(expected);
  });

  it("never echoes the body in its message", () => {
    expect(() => parseJsonObject(bytes("{secret-looking-body"))).toThrow(/^Body is not valid UTF-8 JSON$/);
  });
});
