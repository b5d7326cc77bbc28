import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { LAMBDA_BUNDLING } from "../infra/bundling/options.js";
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

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

function packageOf(input: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  return match?.[1] ?? "(app)";
}

/** Builds every topology function and measures its bundle. */
export async function measureBundleSizes(): Promise<BundleSizeRow[]> {
  const outdir = await mkdtemp(join(tmpdir(), "agentforge-bundles-"));
  try {
    const rows: BundleSizeRow[] = [];
    for (const fn of FUNCTIONS) {
      const outfile = join(outdir, fn.id, "index.mjs");
      const result = await build({
        absWorkingDir: ROOT,
        entryPoints: [join(ROOT, fn.entry)],
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
        external: [...LAMBDA_BUNDLING.external],
        alias: { ...LAMBDA_BUNDLING.alias },
      });
      const { size } = await stat(outfile);
      const byPackage = new Map<string, number>();
      for (const output of Object.values(result.metafile.outputs)) {
        for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
          const name = packageOf(input);
          byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
        }
      }
      rows.push({
        id: fn.id,
        entry: fn.entry,
        bytes: size,
        kib: Math.round((size / 1024) * 10) / 10,
        gzipBytes: gzipSync(await readFile(outfile)).length,
        largest: [...byPackage]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3)
          .map(([name, bytes]) => ({ name, bytes })),
      });
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
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 1 || i === 2 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [
    "Lambda bundle sizes (esbuild, ESM node24, minified, no source map; @aws-sdk bundled, PGlite stubbed)",
    line(header),
    line(widths.map((w) => "-".repeat(w))),
    ...body.map(line),
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await measureBundleSizes();
  process.stdout.write(
    process.argv.includes("--json") ? `${JSON.stringify(rows, null, 2)}\n` : `${renderBundleSizes(rows)}\n`,
  );
}
