import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEd25519Signer, createEd25519Verifier } from "../src/adapters/anchors/ed25519-anchor-key.js";
import { createMemoryAnchorStore } from "../src/adapters/anchors/folder-anchor-store.js";
import {
  AUDIT_COLUMNS,
  auditRowParams,
  createPostgresGovernanceStore,
} from "../src/adapters/postgres/governance.store.js";
import { migrate } from "../src/adapters/postgres/migrations.js";
import { createPgliteClient } from "../src/adapters/postgres/pglite.client.js";
import type { SqlClient } from "../src/adapters/postgres/sql-client.js";
import type { AnchoredAuditVerification } from "../src/domain/governance/audit-anchor.js";
import { createAuditAnchoring } from "../src/domain/governance/audit-anchoring.js";
import {
  type AuditContent,
  canonicalAuditContent,
  GENESIS_HASH,
  signAuditRow,
} from "../src/domain/governance/audit-chain.js";
import type { AuditVerification } from "../src/domain/governance/governance.types.js";
import type { GovernanceStore } from "../src/ports/governance-store.js";
import { issueUrl, prng } from "./fixtures.js";
import { heading, ms, renderTable } from "./report.js";

/**
 * `npm run bench -- --audit-verify`: how fast the audit chain verifies on PGlite, and whether
 * `GET /audit/verify` (API Gateway answers within 29 s) holds at a million rows.
 *
 * The log is filled directly, not through the store's append (one locked round trip a row would take
 * most of the run): rows are signed in JS exactly as the store signs them, chained, and inserted in
 * batches with one `INSERT … SELECT FROM unnest(…)` each; the chain head is then set to the last row.
 * Then it anchors the head (Ed25519, anchors in memory) and times a full walk checked against that
 * anchor (the scheduled job and `npm run audit:verify`), with its peak RSS and heap, budgeted
 * incremental calls from no checkpoint until complete (what a caller of the API does), the
 * steady-state call (checkpoint at the head), a call after new appends, and the incremental walk
 * from the newest anchor over those appends (`audit verify --from anchor`).
 *
 * `--audit-rows=N` (default 1,000,000), `--audit-budget-ms=B` (default the API's 20,000),
 * `--audit-page=P` (rows per round trip, default the store's 500), `--audit-disk` (PGlite on a
 * temporary directory, as AGENTFORGE_DATA_DIR, instead of in memory).
 */
export interface AuditVerifyBenchOptions {
  rows: number;
  budgetMs: number;
  pageSize?: number;
  disk: boolean;
}

/** Rows a round trip when filling (× 11 columns as arrays). */
const FILL_BATCH = 5_000;
const AUDIT_KEY = "bench-audit-key-0123456789abcdef";
const ACTIONS = [
  "bid_accepted",
  "bid_declined",
  "award_made",
  "escrow_created",
  "escrow_released",
  "ledger_outcome",
];
const ACTORS = ["system:projector", "system:prober", "operator:alice", "system:escrow-sweeper"];
const FOLLOW_UP_ROWS = 1_000;
/** The API Gateway integration timeout that `GET /audit/verify` must answer within. */
const API_TIMEOUT_MS = 29_000;

/** The highest RSS and heap seen while a step ran (sampled every 20 ms), in MiB, and RSS before it. */
export interface PeakMemory {
  rssMb: number;
  heapUsedMb: number;
  rssBeforeMb: number;
}

interface IncrementalCall {
  ms: number;
  verified_through: number;
  complete: boolean;
}

export interface AuditVerifyBenchResult {
  rows: number;
  storage: "memory" | "disk";
  pageSize: number;
  budgetMs: number;
  fillMs: number;
  full: { ms: number; rowsPerSecond: number; result: AuditVerification; peak: PeakMemory };
  anchor: { ms: number; seq: number };
  fromAnchor: { ms: number; rows: number; peak: PeakMemory; result: AnchoredAuditVerification };
  projectedFullMsPerMillion: number;
  incremental: { calls: IncrementalCall[]; totalMs: number; longestMs: number };
  steadyStateMs: number;
  afterAppends: { rows: number; ms: number };
}

export async function measureAuditVerify(
  options: AuditVerifyBenchOptions,
  log: (message: string) => void,
): Promise<AuditVerifyBenchResult> {
  const dir = options.disk ? await mkdtemp(join(tmpdir(), "agentforge-bench-audit-")) : undefined;
  const client = await createPgliteClient(dir ? { dataDir: dir } : {});
  try {
    await migrate(client);
    const store = createPostgresGovernanceStore({
      client,
      auditKey: AUDIT_KEY,
      ...(options.pageSize ? { verifyPageSize: options.pageSize } : {}),
    });

    log(
      `filling the audit log with ${options.rows.toLocaleString("en")} chained rows (PGlite, ${dir ? "disk" : "memory"})`,
    );
    const fillStarted = performance.now();
    await fillAuditLog(client, options.rows, log);
    const fillMs = performance.now() - fillStarted;
    log(`  filled in ${ms(fillMs)}`);

    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const anchors = createMemoryAnchorStore();
    const anchoring = createAuditAnchoring({
      store,
      anchors,
      signer: async () => createEd25519Signer(privateKey),
      verifier: async () => createEd25519Verifier(publicKey),
    });
    const anchorStep = await timed(() => anchoring.anchor());
    if (!anchorStep.result.anchored)
      throw new Error(`No anchor written: ${JSON.stringify(anchorStep.result)}`);
    log(`anchored seq ${anchorStep.result.anchor.seq.toLocaleString("en")} in ${ms(anchorStep.ms)}`);

    log(
      "full walk from seq 1 against the newest anchor, no budget (npm run audit:verify, the audit-verify function)",
    );
    const fullStarted = performance.now();
    const { result: fullResult, peak: fullPeak } = await withPeakMemory(() =>
      anchoring.verify({ mode: "full" }),
    );
    const fullMs = performance.now() - fullStarted;
    expectIntact(fullResult, options.rows);
    if (fullResult.anchor?.seq !== options.rows)
      throw new Error("The full walk was not checked against the anchor");
    const rowsPerSecond = options.rows / (fullMs / 1000);
    log(`  ${ms(fullMs)}, ${Math.round(rowsPerSecond).toLocaleString("en")} rows/s`);

    log(
      `budgeted calls (${ms(options.budgetMs)} each) from no checkpoint until complete (GET /audit/verify)`,
    );
    await client.query("DELETE FROM audit_verification_checkpoint");
    const calls: IncrementalCall[] = [];
    for (let complete = false; !complete && calls.length < 1000; ) {
      const call = await timed(() => store.verifyAudit({ budgetMs: options.budgetMs }));
      expectIntact(call.result, undefined);
      complete = call.result.complete;
      calls.push({ ms: call.ms, verified_through: call.result.verified_through, complete });
      log(
        `  call ${calls.length}: ${ms(call.ms)}, verified through ${call.result.verified_through.toLocaleString("en")}`,
      );
    }

    const steady = await timed(() => store.verifyAudit({ budgetMs: options.budgetMs }));
    expectIntact(steady.result, options.rows);
    await appendSome(store, FOLLOW_UP_ROWS);
    const after = await timed(() => store.verifyAudit({ budgetMs: options.budgetMs }));
    expectIntact(after.result, options.rows + FOLLOW_UP_ROWS);

    log(
      `incremental walk from the newest anchor over the ${FOLLOW_UP_ROWS.toLocaleString("en")} rows after it`,
    );
    const fromAnchorStarted = performance.now();
    const fromAnchor = await withPeakMemory(() => anchoring.verify({ mode: "incremental" }));
    const fromAnchorMs = performance.now() - fromAnchorStarted;
    expectIntact(fromAnchor.result, options.rows + FOLLOW_UP_ROWS);
    if (fromAnchor.result.unanchored_rows !== FOLLOW_UP_ROWS) {
      throw new Error(`Expected ${FOLLOW_UP_ROWS} unanchored rows, got ${JSON.stringify(fromAnchor.result)}`);
    }
    log(`  ${ms(fromAnchorMs)}`);

    return {
      rows: options.rows,
      storage: dir ? "disk" : "memory",
      pageSize: options.pageSize ?? 500,
      budgetMs: options.budgetMs,
      fillMs,
      full: { ms: fullMs, rowsPerSecond, result: fullResult, peak: fullPeak },
      anchor: { ms: anchorStep.ms, seq: anchorStep.result.anchor.seq },
      fromAnchor: {
        ms: fromAnchorMs,
        rows: FOLLOW_UP_ROWS + 1,
        peak: fromAnchor.peak,
        result: fromAnchor.result,
      },
      projectedFullMsPerMillion: (1_000_000 / rowsPerSecond) * 1000,
      incremental: {
        calls,
        totalMs: calls.reduce((sum, call) => sum + call.ms, 0),
        longestMs: Math.max(...calls.map((call) => call.ms)),
      },
      steadyStateMs: steady.ms,
      afterAppends: { rows: FOLLOW_UP_ROWS, ms: after.ms },
    };
  } finally {
    await client.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}

export function renderAuditVerify(result: AuditVerifyBenchResult): string[] {
  const measuredMillion = result.rows === 1_000_000;
  const within = result.incremental.longestMs < API_TIMEOUT_MS;
  return [
    heading(
      `Audit chain verification (PGlite ${result.storage === "disk" ? "on disk" : "in memory"}, ${result.rows.toLocaleString("en")} rows)`,
    ),
    renderTable(
      ["what", "time", "rows/s", "note"],
      [
        [
          "fill (JS-signed, batched unnest inserts)",
          ms(result.fillMs),
          perSecond(result.rows, result.fillMs),
          "",
        ],
        [
          "full walk from seq 1, no budget",
          ms(result.full.ms),
          perSecond(result.rows, result.full.ms),
          `${result.pageSize} rows a page`,
        ],
        [
          `full walk of 1,000,000 rows (${measuredMillion ? "measured" : "projected"})`,
          ms(measuredMillion ? result.full.ms : result.projectedFullMsPerMillion),
          "",
          measuredMillion ? "" : `extrapolated from ${result.rows.toLocaleString("en")}`,
        ],
        [
          `budgeted calls from no checkpoint (${ms(result.budgetMs)} budget)`,
          ms(result.incremental.totalMs),
          perSecond(result.rows, result.incremental.totalMs),
          `${result.incremental.calls.length} calls until complete`,
        ],
        [
          "longest single budgeted call",
          ms(result.incremental.longestMs),
          "",
          `${within ? "within" : "OVER"} the API's ${ms(API_TIMEOUT_MS)}`,
        ],
        ["call with the checkpoint at the head", ms(result.steadyStateMs), "", "re-checks one row"],
        [
          `call after ${result.afterAppends.rows.toLocaleString("en")} appends`,
          ms(result.afterAppends.ms),
          "",
          "",
        ],
      ],
    ),
    "",
    renderTable(
      ["against the newest anchor", "rows walked", "time", "peak RSS", "peak heap", "note"],
      [
        [
          "full walk (seq 1 to head) + anchor check",
          result.rows.toLocaleString("en"),
          ms(result.full.ms),
          mib(result.full.peak.rssMb),
          mib(result.full.peak.heapUsedMb),
          `anchor at seq ${result.anchor.seq.toLocaleString("en")}, RSS before ${mib(result.full.peak.rssBeforeMb)}`,
        ],
        [
          "incremental from the newest anchor",
          result.fromAnchor.rows.toLocaleString("en"),
          ms(result.fromAnchor.ms),
          mib(result.fromAnchor.peak.rssMb),
          mib(result.fromAnchor.peak.heapUsedMb),
          `the anchored row + ${result.fromAnchor.result.unanchored_rows.toLocaleString("en")} unanchored rows`,
        ],
        ["writing the anchor (Ed25519 sign + put)", "", ms(result.anchor.ms), "", "", ""],
      ],
    ),
    "",
    renderTable(
      ["budgeted call", "time", "verified through", "complete"],
      result.incremental.calls.map((call, i) => [
        String(i + 1),
        ms(call.ms),
        call.verified_through.toLocaleString("en"),
        call.complete ? "yes" : "no",
      ]),
    ),
  ];
}

/** Inserts `count` correctly chained rows (seq 1..count) and moves the chain head to the last. */
async function fillAuditLog(client: SqlClient, count: number, log: (message: string) => void): Promise<void> {
  const random = prng(20_250_101);
  const start = Date.parse("2030-01-01T00:00:00.000Z");
  let prev = GENESIS_HASH;
  let lastLog = performance.now();
  for (let first = 1; first <= count; first += FILL_BATCH) {
    const last = Math.min(first + FILL_BATCH - 1, count);
    const columns: unknown[][] = Array.from({ length: 11 }, () => []);
    for (let seq = first; seq <= last; seq += 1) {
      const content = auditContent(seq, start, random);
      const signature = signAuditRow(AUDIT_KEY, canonicalAuditContent(content), prev);
      const params = auditRowParams({ ...content, prev_hash: prev, signature });
      for (const [i, value] of params.entries()) columns[i]?.push(value);
      prev = signature;
    }
    await client.query(
      `INSERT INTO audit_logs (${AUDIT_COLUMNS})
       SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[],
         $7::numeric[], $8::jsonb[], $9::timestamptz[], $10::text[], $11::text[])`,
      columns,
    );
    if (performance.now() - lastLog > 10_000) {
      log(`  ${last.toLocaleString("en")} rows`);
      lastLog = performance.now();
    }
  }
  // The head only moves one append at a time (a trigger): set it as a restore would, triggers off.
  await client.transaction(async (tx) => {
    await tx.query("SET LOCAL session_replication_role = replica");
    await tx.query("UPDATE audit_chain_head SET seq = $1, last_hash = $2 WHERE id = 1", [count, prev]);
  });
}

/** A row like the projector writes: an agent, a task, a small details object. */
function auditContent(seq: number, start: number, random: () => number): AuditContent {
  const task = 1 + Math.floor(random() * 50_000);
  const action = ACTIONS[seq % ACTIONS.length] as string;
  return {
    seq,
    action,
    agent_id: `agent-${(Math.floor(random() * 5_000) + 1).toString().padStart(5, "0")}`,
    resource: issueUrl(task),
    actor: ACTORS[seq % ACTORS.length] as string,
    success: random() > 0.1,
    cost: random() > 0.5 ? (Math.floor(random() * 1_000_000) / 1000).toFixed(3) : null,
    details: {
      task_id: issueUrl(task),
      amount: String(Math.floor(random() * 500)),
      note: null,
      step: action,
    },
    occurred_at: new Date(start + seq * 1000).toISOString(),
  };
}

async function appendSome(store: GovernanceStore, count: number): Promise<void> {
  const random = prng(7);
  await store.transaction(async (tx) => {
    for (let i = 0; i < count; i += 1) {
      const { seq: _seq, ...input } = auditContent(
        0,
        Date.parse("2031-01-01T00:00:00.000Z") + i * 1000,
        random,
      );
      await tx.audit.append(input);
    }
  });
}

/** Runs `fn` while sampling this process's memory every 20 ms (PGlite's WASM heap counts in RSS). */
async function withPeakMemory<T>(fn: () => Promise<T>): Promise<{ result: T; peak: PeakMemory }> {
  const before = process.memoryUsage();
  let rss = before.rss;
  let heap = before.heapUsed;
  const sample = () => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss);
    heap = Math.max(heap, now.heapUsed);
  };
  const timer = setInterval(sample, 20);
  try {
    const result = await fn();
    sample();
    const mb = (bytes: number) => bytes / 1024 / 1024;
    return { result, peak: { rssMb: mb(rss), heapUsedMb: mb(heap), rssBeforeMb: mb(before.rss) } };
  } finally {
    clearInterval(timer);
  }
}

const mib = (value: number) => `${value.toFixed(0)} MiB`;

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, result };
}

function expectIntact(result: AuditVerification, rows: number | undefined): void {
  if (!result.ok) throw new Error(`The benchmark's chain does not verify: ${JSON.stringify(result)}`);
  if (rows !== undefined && (result.verified_through !== rows || !result.complete)) {
    throw new Error(`Expected ${rows} rows verified and complete, got ${JSON.stringify(result)}`);
  }
}

const perSecond = (rows: number, elapsedMs: number) =>
  Math.round(rows / (elapsedMs / 1000)).toLocaleString("en");
