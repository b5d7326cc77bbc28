import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Metafile } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildBundle } from "../../bench/bundle-sizes.js";
import { FUNCTIONS } from "../../src/topology.js";

/**
 * Per-function composition, checked on the esbuild metafile of every deployed bundle (the same
 * options as the CDK bundling): each handler reaches only what it uses. Sizes are printed by
 * `npm run bench -- --bundles`; this test pins what goes into which function.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Functions that use the table through ElectroDB. */
const ELECTRODB = new Set([
  "intake-worker",
  "rest-api",
  "dispatch-worker",
  "delivery-worker",
  "https-delivery-worker",
  "bid-worker",
  "award-sweeper",
  "award-worker",
  "projector",
  "governance-replay",
  "health-prober",
]);
/** Functions that open the governance store (Postgres). */
const POSTGRES = new Set([
  "rest-api",
  "projector",
  "governance-replay",
  "health-prober",
  "escrow-sweeper",
  "audit-verify",
]);

const inputs = new Map<string, string[]>();
const bytes = new Map<string, number>();

function packages(metafile: Metafile): string[] {
  return Object.keys(metafile.inputs);
}

const OUT = join(ROOT, "node_modules", ".cache", `agentforge-composition-${process.pid}`);

beforeAll(async () => {
  await mkdir(OUT, { recursive: true });
  await Promise.all(
    FUNCTIONS.map(async (fn) => {
      const built = await buildBundle(fn.entry, join(OUT, fn.id, "index.mjs"));
      inputs.set(fn.id, packages(built.metafile));
      bytes.set(fn.id, built.bytes);
    }),
  );
}, 120_000);

afterAll(() => rm(OUT, { recursive: true, force: true }));

const has = (id: string, pattern: RegExp) => (inputs.get(id) ?? []).some((input) => pattern.test(input));

describe("per-function bundles (esbuild metafile)", () => {
  it.each(FUNCTIONS.map((fn) => fn.id))("%s does not bundle the test index of builders", (id) => {
    expect(inputs.get(id)?.length ?? 0).toBeGreaterThan(0);
    expect(has(id, /functions\/shared\/container\.ts$/)).toBe(false);
    // PGlite is stubbed out of every Lambda, and the local stack's code stays out too.
    expect(has(id, /node_modules\/@electric-sql\/pglite\//)).toBe(false);
    // (the embedded-store registry is shared with the local stack)
    expect(has(id, /src\/local\/(?!embedded-governance\.ts)/)).toBe(false);
  });

  it.each(FUNCTIONS.map((fn) => fn.id))("%s has ElectroDB only if it uses the table through it", (id) => {
    expect(has(id, /node_modules\/electrodb\//)).toBe(ELECTRODB.has(id));
  });

  it.each(FUNCTIONS.map((fn) => fn.id))("%s has Postgres clients only if it opens governance", (id) => {
    expect(has(id, /node_modules\/pg\//)).toBe(POSTGRES.has(id));
    expect(has(id, /src\/adapters\/postgres\/governance\//)).toBe(POSTGRES.has(id));
  });

  it("keeps the authorizer to config, the API key read and operator credentials", () => {
    const id = "api-authorizer";
    expect(has(id, /node_modules\/zod\//)).toBe(false);
    expect(has(id, /node_modules\/@aws-sdk\/client-(kms|sqs|s3)\//)).toBe(false);
    expect(has(id, /src\/domain\/(bidding|governance|tasks|webhooks\/(?!trust|github-headers))/)).toBe(false);
  });

  it("keeps the SQS-only functions off the table's entities and off zod", () => {
    for (const id of ["task-stream"]) {
      expect(has(id, /node_modules\/zod\//)).toBe(false);
      expect(has(id, /src\/adapters\/dynamo\/entities\//)).toBe(false);
    }
    expect(has("github-receiver", /src\/adapters\/dynamo\/entities\//)).toBe(false);
    // The receiver verifies and forwards; the intake worker validates the message with zod.
    expect(has("github-receiver", /node_modules\/zod\//)).toBe(false);
  });

  it("keeps the escrow sweeper off zod: it takes no input to validate", () => {
    expect(has("escrow-sweeper", /node_modules\/zod\//)).toBe(false);
    expect(has("escrow-sweeper", /src\/domain\/governance\/escrow\.service\.ts$/)).toBe(false);
  });

  it("loads the anchors' S3 client only where anchors are written or verified", () => {
    for (const fn of FUNCTIONS) {
      expect(has(fn.id, /node_modules\/@aws-sdk\/client-s3\//)).toBe(
        ["rest-api", "projector", "governance-replay", "audit-verify"].includes(fn.id),
      );
    }
  });

  it("keeps the authorizer at most 500 KiB with the SDK (as deployed), and 150 KiB of its own", async () => {
    // The SDK stays bundled (bench --cold-start: it starts faster than the runtime's); the DynamoDB
    // client alone is about 330 KiB of it. Without the SDK, what is left is the authorizer's own code.
    expect(bytes.get("api-authorizer") ?? 0).toBeLessThanOrEqual(500 * 1024);
    const fn = FUNCTIONS.find((f) => f.id === "api-authorizer");
    const own = await buildBundle(fn?.entry ?? "", join(OUT, "authorizer-own", "index.mjs"), "external");
    expect(own.bytes).toBeLessThanOrEqual(150 * 1024);
  });

  it("reads every ElectroDB model the same with the bundles' jsonschema stub as with the real validator", async () => {
    const outfile = join(OUT, "models", "index.mjs");
    await buildBundle("test/fixtures/electrodb-models.ts", outfile);
    const bundled = (await import(pathToFileURL(outfile).href)) as { describeModels(): string };
    const unbundled = await import("../fixtures/electrodb-models.js");
    const expected = unbundled.describeModels();
    expect(JSON.parse(expected).entities.length).toBeGreaterThan(10);
    expect(bundled.describeModels()).toBe(expected);
  });
});
