/**
 * Capacity benchmark of the marketplace's access patterns on DynamoDB Local: `npm run bench`, or
 * `npm run -s bench -- --json` for the same data as JSON on stdout (progress always goes to stderr).
 * `--seed=auto|service|batch` forces how agents beyond the first `--base` (1,000) are seeded up to
 * `--total` (20,000); `auto` uses BatchWriteItem when the service would take over two minutes.
 *
 * Every request the repositories send is recorded by a middleware on the DynamoDB client
 * (bench/capture.ts) that adds `ReturnConsumedCapacity: "INDEXES"` and keeps what comes back. Each
 * pattern runs through the real domain services, and the reported units are printed beside a
 * theoretical minimum (bench/capacity.ts), computed from the items as stored:
 *
 * - Item size: each item is read back raw (GetItem/Query on a second, unrecorded client) and sized
 *   per DynamoDB's rules: UTF-8 length of every attribute name plus its value; strings by UTF-8
 *   bytes, numbers ~ ceil(significant digits / 2) + 1, booleans/null 1, sets the sum of their
 *   members, lists and maps 3 + Σ(element + 1) (map keys counted too). Keys and ElectroDB's
 *   `__edb_e__`/`__edb_v__` attributes are part of the item, so they count.
 * - Writes: ceil(size / 1 KB) WCU per item written; an update or overwrite is charged on the larger
 *   of the old and new item, a delete on the old one; ×2 inside TransactWriteItems. Every GSI entry
 *   put, rewritten or removed costs ceil(entry size / 1 KB) on that index (projection ALL, so the
 *   entry is the whole item), assumed not doubled by the transaction.
 * - Reads: GetItem ceil(size / 4 KB) × 0.5 eventually consistent, × 1 strongly consistent, × 2
 *   transactional; a missing item still costs the minimum unit. Query: ceil(Σ sizes / 4 KB) × the
 *   same factor, rounded once over all items read (GSIs are always eventually consistent).
 * - The minimum is for the requests the pattern actually makes (e.g. the strongly consistent
 *   profile read before a conditional write is included), so it checks the reported numbers
 *   rather than proposing a different design.
 *
 * The bid pipeline section (bench/bidding.ts) also starts the SQS emulator in this process and
 * reports, side by side in the same run: bids accepted per second through the bid worker (directly
 * and through a bids queue) against the floor of sending acceptBid's own TransactWriteItems straight
 * through the SDK, as per-round ratios; and the time from task creation until every one of 100
 * capable agents' queues holds its BID_REQUEST: dispatch (invitations, one job per agent on the
 * delivery queue), then delivery (that queue drained through the delivery worker's batch handler),
 * each with its DynamoDB and SQS requests per invitation. `--bidding` runs only that section, with
 * 200 bidders of its own (bench/bid-pipeline.ts).
 *
 * Last, it prints the esbuild bundle size of every deployed function (bench/bundle-sizes.ts);
 * `--bundles` prints only that.
 *
 * Then the cold start of every function's bundle in fresh `node` processes, SDK bundled and
 * external, beside a floor bundle of the same SDK clients (bench/cold-start.ts); `--cold-start`
 * runs only that section (`--json`: its report on stdout; `--cold-start-runs=N`, at least 10).
 *
 * `--delivery` runs only the delivery section (bench/delivery.ts, issue 16): a burst of `--tasks` (200)
 * tasks, each to 100 of `--agents` (10,000) agents, 20 % of them dead HTTPS endpoints, through dispatch,
 * the delivery queue and workers, bids, award and notices, with the deployed lane counts
 * (`--delivery-lanes`, `--https-delivery-lanes` override them); latency percentiles, requests per invitation
 * and US dollars per 1,000 tasks (prices in bench/prices.ts).
 *
 * `--audit-verify` runs only the audit chain verification section (bench/audit-verify.ts, PGlite, no
 * DynamoDB): `--audit-rows=N` (1,000,000), `--audit-budget-ms=B`, `--audit-page=P`, `--audit-disk`.
 *
 * The run fails (exit 1) if any Scan was sent.
 */

// Must be set before the SDK is loaded, hence the dynamic import below.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const { main } = await import("./main.js");

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

const seed = option("seed") ?? "auto";
if (seed !== "auto" && seed !== "service" && seed !== "batch") {
  throw new Error(`--seed must be auto, service or batch, not ${seed}`);
}
const baseAgents = Number(option("base") ?? 1_000);
const totalAgents = Number(option("total") ?? 20_000);
if (!(Number.isInteger(baseAgents) && baseAgents > 0 && Number.isInteger(totalAgents))) {
  throw new Error("--base and --total must be whole numbers");
}

const json = process.argv.includes("--json");

if (process.argv.includes("--audit-verify")) {
  // Only the audit verification section: PGlite, nothing else started.
  const { measureAuditVerify, renderAuditVerify } = await import("./audit-verify.js");
  const { DEFAULT_AUDIT_VERIFY_BUDGET_MS } = await import("../src/ports/governance-store.js");
  const rows = Number(option("audit-rows") ?? 1_000_000);
  const budgetMs = Number(option("audit-budget-ms") ?? DEFAULT_AUDIT_VERIFY_BUDGET_MS);
  const page = option("audit-page");
  const pageSize = page === undefined ? undefined : Number(page);
  if (
    !Number.isInteger(rows) ||
    rows < 1 ||
    !(budgetMs >= 0) ||
    (pageSize !== undefined && !(pageSize >= 1))
  ) {
    throw new Error("--audit-rows and --audit-page must be positive whole numbers, --audit-budget-ms >= 0");
  }
  const started = performance.now();
  const log = (message: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
  const result = await measureAuditVerify(
    { rows, budgetMs, disk: process.argv.includes("--audit-disk"), ...(pageSize ? { pageSize } : {}) },
    log,
  );
  process.stdout.write(
    json ? `${JSON.stringify(result, null, 2)}\n` : `${renderAuditVerify(result).join("\n")}\n`,
  );
} else if (process.argv.includes("--delivery")) {
  // Only the delivery section: its own DynamoDB Local, SQS emulator and dead endpoint.
  const { deliveryOptionsFrom, deliverySection } = await import("./delivery.js");
  const started = performance.now();
  const log = (message: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
  process.stdout.write(await deliverySection(deliveryOptionsFrom(process.argv), log));
} else if (process.argv.includes("--bidding")) {
  // Only the bid pipeline section: its own DynamoDB Local and SQS emulator, nothing else measured.
  const { bidPipelineSection } = await import("./bid-pipeline.js");
  const started = performance.now();
  const log = (message: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
  process.stdout.write(await bidPipelineSection(log));
} else if (process.argv.includes("--cold-start")) {
  // Only the cold-start section: bundles built and loaded, nothing else started.
  process.stdout.write(await coldStartSection(true));
} else {
  // `--bundles` alone: only the Lambda bundle sizes (seconds instead of minutes).
  if (!process.argv.includes("--bundles")) {
    process.exitCode = await main({ json, seed, baseAgents, totalAgents });
  }

  // Bundle size per deployed function (src/topology.ts), built as `cdk synth` builds them. On stdout
  // with the capacity report; on stderr with --json, so stdout stays one JSON document.
  const { measureBundleSizes, renderBundleSizes } = await import("./bundle-sizes.js");
  const bundles = renderBundleSizes(await measureBundleSizes());
  (json ? process.stderr : process.stdout).write(`\n${bundles}\n`);

  if (!process.argv.includes("--bundles")) {
    // On stdout with the capacity report; on stderr with --json, as the bundle table.
    (json ? process.stderr : process.stdout).write(`\n${await coldStartSection(false)}`);
  }
}

/** Cold start per function (bench/cold-start.ts): the table, or with `--json` alone the report. */
async function coldStartSection(alone: boolean): Promise<string> {
  const { measureColdStart, renderColdStart } = await import("./cold-start.js");
  const runs = Number(option("cold-start-runs") ?? 10);
  if (!(Number.isInteger(runs) && runs >= 10))
    throw new Error("--cold-start-runs must be a whole number >= 10");
  const started = performance.now();
  const log = (message: string) =>
    process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
  const report = await measureColdStart({ runs, log });
  return json && alone ? `${JSON.stringify(report, null, 2)}\n` : `${renderColdStart(report)}\n`;
}
