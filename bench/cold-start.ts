import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Metafile } from "esbuild";
import { textTableLines } from "../src/lib/text-table.js";
import { type EnvKey, FUNCTIONS, type FunctionSpec } from "../src/topology.js";
import { type BuiltBundle, buildBundle, packageOf, ROOT, type SdkMode } from "./bundle-sizes.js";

/**
 * Cold start per deployed function, measured: `npm run bench -- --cold-start` (`--json` for the rows,
 * `--cold-start-runs=N` for N runs per bundle, default and minimum 10).
 *
 * Method:
 * - Every function of the topology is built by `buildBundle` (bench/bundle-sizes.ts, the deployed
 *   options) twice: with the AWS SDK `bundled` (as deployed today) and `external` (`@aws-sdk/*` and
 *   `@smithy/*` left out and resolved from node_modules at load time, which approximates the SDK the
 *   Lambda runtime provides). The bundles are written under node_modules/.cache so that the external
 *   SDK resolves, and removed afterwards.
 * - Beside each function a floor bundle is built in the same mode: it imports only the SDK clients the
 *   function's bundle imports (read from the esbuild metafile: every `@aws-sdk/client-*` and
 *   `@aws-sdk/lib-dynamodb` import made by code outside the SDK itself) and constructs one client of
 *   each. It is what any function using those clients pays at least.
 * - Each run starts a fresh `node` (`process.execPath`, the Node that runs the bench) on a small
 *   runner script, with a fake but complete Lambda-like environment (the function's own variables
 *   from the topology, us-east-1, fake credentials, `AWS_ENDPOINT_URL` at a dead loopback port so
 *   nothing can reach AWS). The runner times, with `performance.now()`, `await import(bundle)` plus
 *   `await init()` when the module exports `init` (each handler's container build, which makes no
 *   network call), else the import alone; it also reports the time since its process started. The
 *   bench adds the child's wall time, spawn to exit.
 * - Runs are interleaved: each round goes over every function (rotated start), both modes, function
 *   and floor (alternating which goes first), so machine noise spreads over all rows alike. The table
 *   shows medians; a row whose init is more than 1.3× its floor is marked.
 */

export const COLD_START_RATIO_LIMIT = 1.3;
export const MIN_COLD_START_RUNS = 10;
const CHILD_TIMEOUT_MS = 60_000;
const RESULT_MARKER = "@@agentforge-cold-start@@";

/** The median of the samples (the mean of the middle two for an even count); NaN for none. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const SDK_CLIENT_PACKAGE = /^@aws-sdk\/(?:client-[a-z0-9-]+|lib-dynamodb)$/;

/** The package a bare import specifier names (`@aws-sdk/client-sqs/dist-es/x` → `@aws-sdk/client-sqs`). */
function packageOfSpecifier(specifier: string): string | undefined {
  const match = /^((?:@[^/]+\/)?[^/.][^/]*)/.exec(specifier);
  return match?.[1];
}

function isSdkInternal(input: string): boolean {
  const name = packageOf(input);
  return name.startsWith("@aws-sdk/") || name.startsWith("@smithy/");
}

/**
 * The AWS SDK client packages (`@aws-sdk/client-*`, `@aws-sdk/lib-dynamodb`) a bundle uses: those
 * imported by code that is not itself part of the SDK (this repository, Powertools, ...), whether
 * bundled (the import resolves into node_modules) or external (the import keeps its specifier). The
 * SDK's own imports (credential providers loading their nested clients) are not the function's.
 */
export function sdkClientsOf(metafile: Pick<Metafile, "inputs">): string[] {
  const found = new Set<string>();
  for (const [input, { imports }] of Object.entries(metafile.inputs)) {
    if (isSdkInternal(input)) continue;
    for (const imported of imports) {
      const name = imported.external ? packageOfSpecifier(imported.path) : packageOf(imported.path);
      if (name && SDK_CLIENT_PACKAGE.test(name)) found.add(name);
    }
  }
  return [...found].sort();
}

/**
 * The ElectroDB service over every entity (`src/adapters/dynamo/marketplace-service.ts`): what a
 * function that uses the table through ElectroDB builds before any code of its own. A second floor,
 * the data-model floor, imports it beside the SDK clients, so the table shows how much of such a
 * function's init is the data model and how much is the function's own code.
 */
const MARKETPLACE_SERVICE = join(ROOT, "src/adapters/dynamo/marketplace-service.ts");

/** Whether a bundle carries ElectroDB (and so gets a data-model floor). */
export function usesDataModel(metafile: Pick<Metafile, "inputs">): boolean {
  return Object.keys(metafile.inputs).some((input) => packageOf(input) === "electrodb");
}

/** The client class each SDK package is constructed through in a floor bundle. */
const CLIENT_CLASSES: Readonly<Record<string, string>> = {
  "@aws-sdk/client-dynamodb": "DynamoDBClient",
  "@aws-sdk/client-dynamodb-streams": "DynamoDBStreamsClient",
  "@aws-sdk/client-kms": "KMSClient",
  "@aws-sdk/client-s3": "S3Client",
  "@aws-sdk/client-secrets-manager": "SecretsManagerClient",
  "@aws-sdk/client-sqs": "SQSClient",
  "@aws-sdk/client-sts": "STSClient",
  "@aws-sdk/client-cloudwatch": "CloudWatchClient",
  "@aws-sdk/client-ssm": "SSMClient",
  "@aws-sdk/client-lambda": "LambdaClient",
  "@aws-sdk/client-appconfigdata": "AppConfigDataClient",
};

/**
 * The source of a floor module: imports exactly these client packages and, in `init()`, constructs
 * one client of each (a `DynamoDBDocumentClient` over the DynamoDB client for lib-dynamodb). A module
 * without clients is an empty `init()`: the floor of plain Node.
 */
export function floorSource(packages: readonly string[], options: { dataModel?: boolean } = {}): string {
  const wanted = new Set(packages);
  if (wanted.has("@aws-sdk/lib-dynamodb")) wanted.add("@aws-sdk/client-dynamodb");
  const imports: string[] = [];
  const constructs: string[] = [];
  for (const name of [...wanted].sort()) {
    if (name === "@aws-sdk/lib-dynamodb") continue;
    const className = CLIENT_CLASSES[name];
    if (!className)
      throw new Error(`No floor client known for ${name}: add its client class to CLIENT_CLASSES`);
    imports.push(`import { ${className} } from ${JSON.stringify(name)};`);
    constructs.push(
      `  const ${className.charAt(0).toLowerCase()}${className.slice(1)} = new ${className}({});`,
    );
  }
  const clients = constructs.map((line) => /const (\w+) =/.exec(line)?.[1] as string);
  if (wanted.has("@aws-sdk/lib-dynamodb")) {
    imports.push('import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";');
    constructs.push("  const documentClient = DynamoDBDocumentClient.from(dynamoDBClient);");
    clients.push("documentClient");
  }
  if (options.dataModel) {
    if (!wanted.has("@aws-sdk/lib-dynamodb")) throw new Error("The data model floor needs lib-dynamodb");
    imports.push(`import { createMarketplaceService } from ${JSON.stringify(MARKETPLACE_SERVICE)};`);
    constructs.push(
      '  const marketplace = createMarketplaceService({ client: documentClient, table: "agentforge-bench" });',
    );
    clients.push("marketplace");
  }
  return [
    options.dataModel
      ? "// Generated by bench/cold-start.ts: the SDK clients of one function and the ElectroDB data model."
      : "// Generated by bench/cold-start.ts: the SDK clients of one function and nothing else.",
    ...imports,
    "export async function init() {",
    ...constructs,
    `  return [${clients.join(", ")}];`,
    "}",
    "",
  ].join("\n");
}

/** A fake value for every variable the infrastructure may set (typed, so a new key must be added here). */
const FAKE_ENV: Readonly<Record<EnvKey, string>> = {
  TABLE_NAME: "agentforge-bench",
  INTAKE_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-intake",
  BIDS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-bids",
  PROJECTOR_FAILURES_QUEUE_URL:
    "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-projector-failures",
  DISPATCH_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-dispatch",
  DELIVERY_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-delivery",
  HTTPS_DELIVERY_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-https-delivery",
  AWARD_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-award.fifo",
  CIRCUIT_FAILURE_THRESHOLD: "3",
  CIRCUIT_COOLDOWN_SECONDS: "300",
  MARKETPLACE_ACCOUNT_ID: "123456789012",
  GITHUB_WEBHOOK_SECRET_ARN:
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:agentforge/github-webhook-secret-AbCdEf",
  AGENTFORGE_API_TOKEN_ARN:
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:agentforge/api-token-AbCdEf",
  AGENTFORGE_OPERATORS_ARN:
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:agentforge/operators-AbCdEf",
  API_KEY_OVERLAP_SECONDS: "600",
  BID_SECRET_KMS_KEY_ID: "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
  SECRET_ROTATION_OVERLAP_SECONDS: "600",
  DATABASE_URL_SECRET_ARN:
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:agentforge/database-url-AbCdEf",
  AUDIT_HMAC_KEY_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:agentforge/audit-hmac-key-AbCdEf",
  AUDIT_ANCHOR_KMS_KEY_ID: "arn:aws:kms:us-east-1:123456789012:key/66666666-7777-8888-9999-000000000000",
  AUDIT_ANCHOR_BUCKET: "agentforge-audit-anchors-123456789012",
  AUDIT_ANCHOR_MIN_INTERVAL_SECONDS: "0",
  APPROVAL_THRESHOLD: "500",
  ESCROW_TIMEOUT_HOURS: "336",
  BID_WINDOW_SECONDS: "300",
  MESSAGE_MAX_SKEW_SECONDS: "300",
  MARKETPLACE_LABEL: "agentforge",
  HUMAN_INTERVENTION_LABEL: "human-intervention",
  WEBHOOK_MAX_BODY_BYTES: "1048576",
  DELIVERY_TTL_SECONDS: "604800",
  GITHUB_ALLOWED_REPOSITORIES: "octo-org/*",
  GITHUB_TRUSTED_CHECK_APPS: "github-actions",
};

/**
 * The child's whole environment (nothing inherited but PATH): what Lambda and the CDK app set on the
 * function, with fake values, fake credentials and a dead default endpoint.
 */
export function coldStartEnv(
  fn: Pick<FunctionSpec, "id" | "environment" | "memoryMb">,
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    TZ: "UTC",
    AWS_REGION: "us-east-1",
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "AKIAIOSFODNN7EXAMPLE",
    AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    AWS_SESSION_TOKEN: "fake-session-token",
    AWS_ENDPOINT_URL: "http://127.0.0.1:9",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    AWS_EXECUTION_ENV: "AWS_Lambda_nodejs24.x",
    AWS_LAMBDA_FUNCTION_NAME: `agentforge-${fn.id}`,
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    POWERTOOLS_SERVICE_NAME: "agentforge",
    POWERTOOLS_METRICS_NAMESPACE: "AgentForge",
    POWERTOOLS_LOG_LEVEL: "INFO",
    ...Object.fromEntries(fn.environment.map((key) => [key, FAKE_ENV[key]])),
  };
}

/** The child's script: times import + init() of the module named by its argument, prints one result line. */
const RUNNER_SOURCE = `const started = performance.now();
const url = process.argv[2];
try {
  const mod = await import(url);
  const hasInit = typeof mod.init === "function";
  if (hasInit) await mod.init();
  const done = performance.now();
  const result = { initMs: done - started, sinceProcessStartMs: done, hasInit };
  process.stdout.write("\\n${RESULT_MARKER}" + JSON.stringify(result) + "\\n", () => process.exit(0));
} catch (error) {
  process.stderr.write("cold-start runner: " + (error && error.stack ? error.stack : String(error)) + "\\n");
  process.exit(1);
}
`;

export interface ChildResult {
  /** import + init(), inside the child. */
  initMs: number;
  /** The same instant, from the child's process start (performance.timeOrigin). */
  sinceProcessStartMs: number;
  hasInit: boolean;
  /** Spawn to exit, seen by the bench. */
  wallMs: number;
}

/** Reads the runner's result line out of a child's stdout (handlers may log before it). */
export function parseRunnerOutput(stdout: string): Omit<ChildResult, "wallMs"> | undefined {
  const line = stdout
    .split("\n")
    .reverse()
    .find((l) => l.startsWith(RESULT_MARKER));
  return line ? (JSON.parse(line.slice(RESULT_MARKER.length)) as Omit<ChildResult, "wallMs">) : undefined;
}

function runChild(runner: string, bundle: string, env: Record<string, string>): Promise<ChildResult> {
  return new Promise((resolveRun, rejectRun) => {
    const started = performance.now();
    const child = spawn(process.execPath, [runner, pathToFileURL(bundle).href], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      timeout: CHILD_TIMEOUT_MS,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", rejectRun);
    child.on("close", (code, signal) => {
      const wallMs = performance.now() - started;
      const result = code === 0 ? parseRunnerOutput(stdout) : undefined;
      if (!result) {
        rejectRun(
          new Error(
            `${bundle} failed to load (exit ${code ?? signal}): ${stderr.trim().split("\n").slice(-8).join("\n")}`,
          ),
        );
        return;
      }
      resolveRun({ ...result, wallMs });
    });
  });
}

export interface ColdStartModeRow {
  bytes: number;
  gzipBytes: number;
  floorBytes: number;
  /** Medians over the runs, in ms. */
  initMs: number;
  floorMs: number;
  ratio: number;
  sinceProcessStartMs: number;
  wallMs: number;
  floorWallMs: number;
  overLimit: boolean;
  /** Functions with ElectroDB: the data-model floor (SDK clients + the ElectroDB service) and init over it. */
  model?: { bytes: number; initMs: number; ratio: number };
}

export interface ColdStartRow {
  id: string;
  /** The SDK client packages the function's bundle uses (its floor's imports). */
  sdkClients: string[];
  /** Whether the handler module exports `init()` (else only the import is timed). */
  hasInit: boolean;
  runs: number;
  modes: Partial<Record<SdkMode, ColdStartModeRow>>;
}

export interface ColdStartReport {
  node: string;
  runs: number;
  ratioLimit: number;
  rows: ColdStartRow[];
}

interface Target {
  fn: FunctionSpec;
  mode: SdkMode;
  bundle: BuiltBundle;
  floor: BuiltBundle;
  modelFloor?: BuiltBundle;
  clients: string[];
  env: Record<string, string>;
  samples: ChildResult[];
  floorSamples: ChildResult[];
  modelSamples: ChildResult[];
}

/** The order of round `round`: every function once (start rotated), every mode, function and floor alternating. */
export function roundOrder<T>(items: readonly T[], round: number): T[] {
  const start = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

export async function measureColdStart(
  options: {
    runs?: number;
    modes?: readonly SdkMode[];
    functions?: readonly FunctionSpec[];
    log?: (message: string) => void;
  } = {},
): Promise<ColdStartReport> {
  const runs = Math.max(MIN_COLD_START_RUNS, options.runs ?? MIN_COLD_START_RUNS);
  const modes = options.modes ?? (["bundled", "external"] as const);
  const functions = options.functions ?? FUNCTIONS;
  const log = options.log ?? (() => {});
  const cache = join(ROOT, "node_modules", ".cache");
  await mkdir(cache, { recursive: true });
  const workdir = await mkdtemp(join(cache, "agentforge-cold-start-"));
  try {
    const runner = join(workdir, "runner.mjs");
    await writeFile(runner, RUNNER_SOURCE);
    const targets: Target[] = [];
    for (const fn of functions) {
      for (const mode of modes) {
        const dir = join(workdir, mode, fn.id);
        const bundle = await buildBundle(fn.entry, join(dir, "index.mjs"), mode);
        const clients = sdkClientsOf(bundle.metafile);
        const floorEntry = join(dir, "floor-entry.mjs");
        await writeFile(floorEntry, floorSource(clients));
        const floor = await buildBundle(floorEntry, join(dir, "floor.mjs"), mode);
        let modelFloor: BuiltBundle | undefined;
        if (usesDataModel(bundle.metafile)) {
          const modelEntry = join(dir, "model-floor-entry.mjs");
          await writeFile(modelEntry, floorSource(clients, { dataModel: true }));
          modelFloor = await buildBundle(modelEntry, join(dir, "model-floor.mjs"), mode);
        }
        targets.push({
          fn,
          mode,
          bundle,
          floor,
          ...(modelFloor ? { modelFloor } : {}),
          clients,
          env: coldStartEnv(fn),
          samples: [],
          floorSamples: [],
          modelSamples: [],
        });
      }
    }
    log(`cold start: built ${targets.length} bundles and their floors; ${runs} rounds on ${process.version}`);
    for (let round = 0; round < runs; round++) {
      for (const target of roundOrder(targets, round)) {
        const floorFirst = round % 2 === 1;
        if (floorFirst) target.floorSamples.push(await runChild(runner, target.floor.outfile, target.env));
        target.samples.push(await runChild(runner, target.bundle.outfile, target.env));
        if (!floorFirst) target.floorSamples.push(await runChild(runner, target.floor.outfile, target.env));
        if (target.modelFloor) {
          target.modelSamples.push(await runChild(runner, target.modelFloor.outfile, target.env));
        }
      }
      log(`cold start: round ${round + 1}/${runs}`);
    }
    const rows: ColdStartRow[] = functions.map((fn) => {
      const own = targets.filter((t) => t.fn === fn);
      const modesOf: Partial<Record<SdkMode, ColdStartModeRow>> = {};
      for (const t of own) {
        const initMs = median(t.samples.map((s) => s.initMs));
        const floorMs = median(t.floorSamples.map((s) => s.initMs));
        const ratio = initMs / floorMs;
        modesOf[t.mode] = {
          bytes: t.bundle.bytes,
          gzipBytes: t.bundle.gzipBytes,
          floorBytes: t.floor.bytes,
          initMs,
          floorMs,
          ratio,
          sinceProcessStartMs: median(t.samples.map((s) => s.sinceProcessStartMs)),
          wallMs: median(t.samples.map((s) => s.wallMs)),
          floorWallMs: median(t.floorSamples.map((s) => s.wallMs)),
          overLimit: ratio > COLD_START_RATIO_LIMIT,
          ...(t.modelFloor
            ? {
                model: {
                  bytes: t.modelFloor.bytes,
                  initMs: median(t.modelSamples.map((s) => s.initMs)),
                  ratio: initMs / median(t.modelSamples.map((s) => s.initMs)),
                },
              }
            : {}),
        };
      }
      return {
        id: fn.id,
        sdkClients: own[0]?.clients ?? [],
        hasInit: own.some((t) => t.samples.some((s) => s.hasInit)),
        runs,
        modes: modesOf,
      };
    });
    return { node: process.version, runs, ratioLimit: COLD_START_RATIO_LIMIT, rows };
  } finally {
    await rm(workdir, { recursive: true, force: true });
  }
}

const SHORT_CLIENT: (name: string) => string = (name) =>
  name.replace("@aws-sdk/client-", "").replace("@aws-sdk/lib-dynamodb", "ddb-doc");

/** The report as a fixed-width table: per mode bytes, gzip, init, floor and ratio (`!` over the limit). */
export function renderColdStart(report: ColdStartReport): string {
  const modes = (["bundled", "external"] as const).filter((m) => report.rows.some((r) => r.modes[m]));
  const kib = (bytes: number) => (bytes / 1024).toFixed(1);
  const ms = (value: number) => value.toFixed(1);
  const header = ["function"];
  const group = [""];
  for (const mode of modes) {
    header.push("KiB", "gzip", "init ms", "floor ms", "ratio", "model ms", "vs model", "wall ms");
    group.push(`${mode} SDK`, "", "", "", "", "", "", "");
  }
  header.push("init()", "SDK clients");
  group.push("", "");
  const body = report.rows.map((row) => {
    const cells = [row.id];
    for (const mode of modes) {
      const m = row.modes[mode];
      if (!m) {
        cells.push("", "", "", "", "", "", "", "");
        continue;
      }
      cells.push(
        kib(m.bytes),
        kib(m.gzipBytes),
        ms(m.initMs),
        ms(m.floorMs),
        `${m.ratio.toFixed(2)}×${m.overLimit ? " !" : ""}`,
        m.model ? ms(m.model.initMs) : "-",
        m.model ? `${m.model.ratio.toFixed(2)}×` : "-",
        ms(m.wallMs),
      );
    }
    cells.push(row.hasInit ? "yes" : "no", row.sdkClients.map(SHORT_CLIENT).join(" ") || "-");
    return cells;
  });
  const numeric = (i: number) => i > 0 && i < header.length - 2;
  const [headerLine = "", rule = "", ...lines] = textTableLines(header, body, {
    align: (i) => (numeric(i) ? "right" : "left"),
    rule: true,
  });
  // Each mode's label starts above its first column (the columns start where the rule's dashes do).
  const starts = [...rule.matchAll(/-+/g)].map((m) => m.index ?? 0);
  let groupLine = "";
  group.forEach((label, i) => {
    if (label) groupLine = `${groupLine.padEnd(starts[i] ?? 0)}${label}`;
  });
  return [
    `Cold start per function (${report.node}, median of ${report.runs} fresh processes each; init = import + init(), floor = its SDK clients only; ! = over ${report.ratioLimit}× the floor)`,
    "model = the floor plus the ElectroDB service over every entity (functions that use the table through ElectroDB); vs model = init over it",
    groupLine,
    headerLine,
    rule,
    ...lines,
  ].join("\n");
}
