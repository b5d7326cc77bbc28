import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build, type Metafile } from "esbuild";
import { LAMBDA_BUNDLING, RUNTIME_SDK_EXTERNAL } from "../infra/bundling/options.js";
import { textTableLines } from "../src/lib/text-table.js";
import { FUNCTIONS } from "../src/topology.js";

/**
 * Bundle size per deployed function: every function of the topology is built with esbuild using the
 * same options as the CDK bundling (`infra/bundling/options.ts`: ESM, node24, minified, no source
 * map, everything bundled but PGlite) into a temporary directory, which is removed afterwards.
 * `npx tsx bench/bundle-sizes.ts` prints the table; `--json` prints the rows instead.
 */

export interface BundleSizeRow {
  id: string;
  entry: string;
  bytes: number;
  kib: number;
  gzipBytes: number;
  /** The three packages contributing most bytes (`(app)` is this repository's code). */
  largest: Array<{ name: string; bytes: number }>;
}

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** The npm package an esbuild input path belongs to; `(app)` for this repository's own files. */
export function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return match?.[1] ?? "(app)";
}

/**
 * How the AWS SDK gets into a bundle: `bundled` is what is deployed today (`LAMBDA_BUNDLING`);
 * `external` leaves `@aws-sdk/*` and `@smithy/*` out, to be resolved at load time (on Lambda, from the
 * runtime's own SDK; in the bench, from this repository's node_modules).
 */
export type SdkMode = "bundled" | "external";

/** One esbuild output, measured. */
export interface BuiltBundle {
  outfile: string;
  bytes: number;
  gzipBytes: number;
  metafile: Metafile;
}

/**
 * The one build path of the bench: `entry` (absolute, or relative to the repository) bundled into
 * `outfile` with the deployed options, the SDK bundled or external per `sdk`. An external SDK is
 * resolved from the node_modules above `outfile` when the bundle is loaded, so such an outfile must
 * lie inside this repository for the bundle to run.
 */
export async function buildBundle(
  entry: string,
  outfile: string,
  sdk: SdkMode = "bundled",
): Promise<BuiltBundle> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: [resolve(ROOT, entry)],
    outfile,
    bundle: true,
    write: true,
    metafile: true,
    logLevel: "silent",
    format: LAMBDA_BUNDLING.format,
    platform: LAMBDA_BUNDLING.platform,
    target: LAMBDA_BUNDLING.target,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    minify: LAMBDA_BUNDLING.minify,
    keepNames: LAMBDA_BUNDLING.keepNames,
    sourcemap: LAMBDA_BUNDLING.sourcemap,
    banner: { js: LAMBDA_BUNDLING.banner },
    external: [...LAMBDA_BUNDLING.external, ...(sdk === "external" ? RUNTIME_SDK_EXTERNAL : [])],
    alias: { ...LAMBDA_BUNDLING.alias },
  });
  const { size } = await stat(outfile);
  return {
    outfile,
    bytes: size,
    gzipBytes: gzipSync(await readFile(outfile)).length,
    metafile: result.metafile,
  };
}

/** The bundle-size row of a built function. */
export function bundleSizeRow(fn: { id: string; entry: string }, built: BuiltBundle): BundleSizeRow {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(built.metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(input);
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return {
    id: fn.id,
    entry: fn.entry,
    bytes: built.bytes,
    kib: Math.round((built.bytes / 1024) * 10) / 10,
    gzipBytes: built.gzipBytes,
    largest: [...byPackage]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([name, bytes]) => ({ name, bytes })),
  };
}

/** Builds every topology function and measures its bundle. */
export async function measureBundleSizes(): Promise<BundleSizeRow[]> {
  const outdir = await mkdtemp(join(tmpdir(), "agentforge-bundles-"));
  try {
    const rows: BundleSizeRow[] = [];
    for (const fn of FUNCTIONS) {
      rows.push(bundleSizeRow(fn, await buildBundle(fn.entry, join(outdir, fn.id, "index.mjs"))));
    }
    return rows;
  } finally {
    await rm(outdir, { recursive: true, force: true });
  }
}

/** The rows as a fixed-width table. */
export function renderBundleSizes(rows: BundleSizeRow[]): string {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const header = ["function", "bytes", "KiB", "gzip", "largest inputs"];
  const body = rows.map((r) => [
    r.id,
    String(r.bytes),
    r.kib.toFixed(1),
    kib(r.gzipBytes),
    r.largest.map((l) => `${l.name} ${kib(l.bytes)}`).join(", "),
  ]);
  const total = rows.reduce((sum, r) => sum + r.bytes, 0);
  body.push(["total", String(total), (total / 1024).toFixed(1), "", ""]);
  return [
    "Lambda bundle sizes (esbuild, ESM node24, minified, no source map; @aws-sdk bundled, PGlite stubbed)",
    ...textTableLines(header, body, { align: ["left", "right", "right"], rule: true }),
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await measureBundleSizes();
  process.stdout.write(
    process.argv.includes("--json") ? `${JSON.stringify(rows, null, 2)}\n` : `${renderBundleSizes(rows)}\n`,
  );
}
