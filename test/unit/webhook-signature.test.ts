import { sign, verify } from "@octokit/webhooks-methods";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { signWebhookBody, verifyWebhookSignature } from "../../src/adapters/github/signature.js";
import { decodeBody } from "../../src/http/webhook-request.js";
import { apiGatewayEvent, githubPayload, signBody, TEST_WEBHOOK_SECRET } from "../fixtures/github.js";

/** Any Unicode text, lone surrogates included (fast-check's "binary" string unit is far slower). */
const anyText = (maxLength: number) =>
  fc
    .array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength })
    .map((points) => String.fromCodePoint(...points));

const secret = TEST_WEBHOOK_SECRET;
const body = JSON.stringify(githubPayload("issues", "opened"));
const bytes = (text: string) => Buffer.from(text, "utf8");

describe("X-Hub-Signature-256 verification", () => {
  it("accepts the signature GitHub computes (cross-checked with @octokit/webhooks-methods)", async () => {
    const signature = await sign(secret, body);

    expect(signWebhookBody(secret, body)).toBe(signature);
    expect(verifyWebhookSignature(secret, bytes(body), signature)).toBe(true);
  });

  it("GitHub's documented test vector verifies", () => {
    // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    const signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    expect(verifyWebhookSignature("It's a Secret to Everybody", bytes("Hello, World!"), signature)).toBe(
      true,
    );
  });

  it("rejects a signature made with another secret", () => {
    expect(verifyWebhookSignature(secret, bytes(body), signBody("another secret", body))).toBe(false);
  });

  it("rejects a missing or empty signature, and never verifies with an empty secret", () => {
    expect(verifyWebhookSignature(secret, bytes(body), undefined)).toBe(false);
    expect(verifyWebhookSignature(secret, bytes(body), "")).toBe(false);
    expect(verifyWebhookSignature("", bytes(body), signBody("", body))).toBe(false);
  });

  it("rejects a body changed by a single character", () => {
    const signature = signBody(secret, body);
    const tampered = bytes(body.replace('"opened"', '"openeD"'));

    expect(verifyWebhookSignature(secret, tampered, signature)).toBe(false);
  });

  it("accepts upper-case hex digits and surrounding whitespace", () => {
    const signature = signBody(secret, body);

    expect(verifyWebhookSignature(secret, bytes(body), `sha256=${signature.slice(7).toUpperCase()}`)).toBe(
      true,
    );
    expect(verifyWebhookSignature(secret, bytes(body), ` ${signature} `)).toBe(true);
  });

  it.each([
    ["too short", "sha256=abc123"],
    ["one digit too many", `${signBody(secret, body)}0`],
    ["one digit too few", signBody(secret, body).slice(0, -1)],
    ["non-hex digits", `sha256=${"zz".repeat(32)}`],
    ["no algorithm", signBody(secret, body).slice(7)],
    ["the sha1 header format", `sha1=${"a".repeat(40)}`],
    ["another algorithm's prefix", signBody(secret, body).replace("sha256", "sha512")],
    ["two signatures joined", `${signBody(secret, body)},${signBody(secret, body)}`],
    ["non-ASCII text", `sha256=${"é".repeat(64)}`],
  ])("returns false without throwing for %s", (_, signature) => {
    expect(() => verifyWebhookSignature(secret, bytes(body), signature)).not.toThrow();
    expect(verifyWebhookSignature(secret, bytes(body), signature)).toBe(false);
  });

  it("never throws and only accepts the exact signature, for arbitrary bodies and headers", () => {
    /** Header candidates built from the body's real signature: garbage, look-alikes, near misses. */
    const header = fc.oneof(
      anyText(100).map((text) => () => text),
      fc.stringMatching(/^sha256=[0-9a-fA-F]{0,80}$/).map((text) => () => text),
      fc.tuple(fc.nat(), fc.constantFrom("0", "f", "g", "", "00")).map(([at, digit]) => (valid: string) => {
        const i = 7 + (at % 64);
        return `${valid.slice(0, i)}${digit}${valid.slice(i + 1)}`;
      }),
      fc.constant((valid: string) => valid),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), header, (raw, build) => {
        const valid = signBody(secret, raw);
        const candidate = build(valid);

        expect(verifyWebhookSignature(secret, raw, candidate)).toBe(candidate.trim().toLowerCase() === valid);
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with @octokit/webhooks-methods verify on text bodies", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1 }), fc.boolean(), async (text, tamper) => {
        const signature = signBody(secret, tamper ? `${text}.` : text);
        expect(verifyWebhookSignature(secret, bytes(text), signature)).toBe(
          await verify(secret, text, signature),
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe("signatures over base64-encoded bodies", () => {
  const max = 1024 * 1024;

  it("verifies the decoded bytes of a base64 body", () => {
    const event = apiGatewayEvent({ body: Buffer.from(body).toString("base64"), isBase64Encoded: true });

    expect(verifyWebhookSignature(secret, decodeBody(event, max), signBody(secret, body))).toBe(true);
  });

  it("verifies binary bodies that are not valid UTF-8, byte for byte", () => {
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]);
    const event = apiGatewayEvent({ body: binary.toString("base64"), isBase64Encoded: true });

    expect(verifyWebhookSignature(secret, decodeBody(event, max), signBody(secret, binary))).toBe(true);
  });

  it("rejects a tampered base64 body", () => {
    const encoded = Buffer.from(body).toString("base64");
    const tampered = `${encoded.slice(0, 10)}${encoded[10] === "A" ? "B" : "A"}${encoded.slice(11)}`;
    const event = apiGatewayEvent({ body: tampered, isBase64Encoded: true });

    expect(verifyWebhookSignature(secret, decodeBody(event, max), signBody(secret, body))).toBe(false);
  });

  it("rejects a body signed as base64 text rather than as the bytes it encodes", () => {
    const encoded = Buffer.from(body).toString("base64");
    const event = apiGatewayEvent({ body: encoded, isBase64Encoded: true });

    expect(verifyWebhookSignature(secret, decodeBody(event, max), signBody(secret, encoded))).toBe(false);
  });
});
