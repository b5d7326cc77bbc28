import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrlFromSecret, openGovernance } from "../../functions/shared/container.js";
import { openGovernanceStore } from "../../src/adapters/postgres/open-governance-store.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import { createPgliteClient } from "../../src/adapters/postgres/pglite.client.js";
import { loadConfig } from "../../src/config.js";
import { createEscrowService } from "../../src/domain/governance/escrow.service.js";
import type { AuditEntryInput, Escrow } from "../../src/domain/governance/governance.types.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { issueUrl } from "../helpers/factories.js";
import {
  dropSchema,
  openPgliteTestStore,
  openPgTestStore,
  randomSchemaName,
  type TestGovernanceStore,
} from "../helpers/postgres.js";

/**
 * The scheduled governance jobs and their wiring, on real databases: the escrow timeout sweeper
 * (PGlite, and the PostgreSQL server when DATABASE_URL is set), how the container opens the
 * governance store from configuration, and the audit-verify CLI as a child process over a persisted
 * PGlite directory.
 */

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const AUDIT_KEY = "jobs-test-audit-key-0123456789abcdef";
const REPO_ROOT = resolve(import.meta.dirname, "../..");

function auditRow(n: number, at: string): AuditEntryInput {
  return {
    action: "test_event",
    agent_id: `agent-${n}`,
    resource: `agent:agent-${n}`,
    actor: "test:jobs",
    success: true,
    cost: `${n}.25`,
    details: { n },
    occurred_at: at,
  };
}

const tempDirs: string[] = [];

/** A fresh directory under the OS temp dir, removed after the file. */
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `agentforge-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

// ------------------------------------------------------------------------------------------------
// Escrow timeout sweeper
// ------------------------------------------------------------------------------------------------

function escrowSweeperSuite(label: string, open: () => Promise<TestGovernanceStore>) {
  describe(`escrow timeout sweeper (${label})`, () => {
    const NOW = Date.parse("2031-06-15T12:00:00.000Z");
    const TIMEOUT = 14 * DAY;
    const iso = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();
    let clock = NOW;
    const now = () => new Date(clock);
    let gov: TestGovernanceStore;
    let store: GovernanceStore;
    const e: Record<
      "oldest" | "old" | "boundary" | "young" | "disputed" | "released",
      { id: string; task_id: string; agent_id: string; created_at: string }
    > = {} as never;

    async function createEscrow(createdAt: string, amount: string) {
      const input = {
        id: randomUUID(),
        task_id: issueUrl(),
        agent_id: `agent-${randomUUID().slice(0, 8)}`,
        worker_wallet: "wallet-1",
        amount,
        task_description: null,
        created_at: createdAt,
      };
      const { created } = await store.transaction((tx) => tx.escrows.create(input));
      expect(created).toBe(true);
      return input;
    }

    const escrowOf = (id: string) => store.transaction((tx) => tx.escrows.get(id));
    const refundRows = async () =>
      (await store.listAudit({ limit: 1000 })).filter((row) => row.action === "escrow_refunded");

    beforeAll(async () => {
      gov = await open();
      store = gov.store;
      e.oldest = await createEscrow(iso(-20 * DAY), "120.5");
      e.old = await createEscrow(iso(-15 * DAY), "80");
      e.boundary = await createEscrow(iso(-TIMEOUT), "10");
      e.young = await createEscrow(iso(-1 * DAY), "5");
      e.disputed = await createEscrow(iso(-30 * DAY), "300");
      e.released = await createEscrow(iso(-25 * DAY), "40");
      await store.transaction(async (tx) => {
        await tx.escrows.transition(e.disputed.id, "disputed", "api", iso(-29 * DAY));
        await tx.escrows.transition(e.released.id, "released", "api", iso(-24 * DAY));
      });
    });

    afterAll(async () => {
      await gov?.dispose();
    });

    it("refunds only escrows pending for longer than the timeout, oldest first, with an audit row each", async () => {
      const sweeper = createEscrowService({ store, timeoutMs: TIMEOUT, now });

      expect(await sweeper.refundExpired()).toEqual({ examined: 2, refunded: 2, skipped: 0, more: false });

      for (const [escrow, amount] of [
        [e.oldest, "120.500000"],
        [e.old, "80.000000"],
      ] as const) {
        expect(await escrowOf(escrow.id)).toEqual({
          id: escrow.id,
          task_id: escrow.task_id,
          agent_id: escrow.agent_id,
          worker_wallet: "wallet-1",
          amount,
          status: "refunded",
          task_description: null,
          created_at: escrow.created_at,
          settled_at: iso(0),
          resolved_by: "timeout",
          updated_at: iso(0),
        } satisfies Escrow);
      }
      const rows = await refundRows();
      expect(rows).toHaveLength(2);
      expect(rows.map((row) => row.resource)).toEqual([`escrow:${e.oldest.id}`, `escrow:${e.old.id}`]);
      expect(rows[0]).toMatchObject({
        agent_id: e.oldest.agent_id,
        actor: "system:escrow-sweeper",
        success: true,
        cost: "120.500000",
        occurred_at: iso(0),
        details: { task_id: e.oldest.task_id, pending_since: e.oldest.created_at, timeout_ms: TIMEOUT },
      });
      expect(rows[1]).toMatchObject({ cost: "80.000000", details: { pending_since: e.old.created_at } });
    });

    it("leaves young, exactly-at-the-timeout, disputed and released escrows alone", async () => {
      for (const escrow of [e.young, e.boundary]) {
        expect(await escrowOf(escrow.id)).toMatchObject({
          status: "pending",
          settled_at: null,
          resolved_by: null,
          updated_at: escrow.created_at,
        });
      }
      expect(await escrowOf(e.disputed.id)).toMatchObject({
        status: "disputed",
        settled_at: null,
        resolved_by: null,
        updated_at: iso(-29 * DAY),
      });
      expect(await escrowOf(e.released.id)).toMatchObject({
        status: "released",
        settled_at: iso(-24 * DAY),
        resolved_by: "api",
      });
    });

    it("is idempotent: a second run at the same time refunds nothing and audits nothing", async () => {
      const before = await store.listAudit({ limit: 1000 });
      const sweeper = createEscrowService({ store, timeoutMs: TIMEOUT, now });

      expect(await sweeper.refundExpired()).toEqual({ examined: 0, refunded: 0, skipped: 0, more: false });
      expect(await store.listAudit({ limit: 1000 })).toEqual(before);
      expect((await escrowOf(e.oldest.id))?.settled_at).toBe(iso(0));
    });

    it("measures the timeout from now: one millisecond later the boundary escrow is due", async () => {
      clock = NOW + 1;
      try {
        const sweeper = createEscrowService({ store, timeoutMs: TIMEOUT, now });
        expect(await sweeper.refundExpired()).toEqual({ examined: 1, refunded: 1, skipped: 0, more: false });
        expect(await escrowOf(e.boundary.id)).toMatchObject({
          status: "refunded",
          resolved_by: "timeout",
          settled_at: new Date(NOW + 1).toISOString(),
        });
        expect(await escrowOf(e.young.id)).toMatchObject({ status: "pending" });
      } finally {
        clock = NOW;
      }
    });

    it("works through a backlog in batches of `limit`, saying when there may be more", async () => {
      const backlog = [
        await createEscrow(iso(-40 * DAY), "1"),
        await createEscrow(iso(-39 * DAY), "2"),
        await createEscrow(iso(-38 * DAY), "3"),
      ];
      const sweeper = createEscrowService({ store, timeoutMs: TIMEOUT, now });

      expect(await sweeper.refundExpired({ limit: 2 })).toEqual({
        examined: 2,
        refunded: 2,
        skipped: 0,
        more: true,
      });
      expect((await escrowOf(backlog[2]?.id as string))?.status).toBe("pending");
      expect(await sweeper.refundExpired({ limit: 2 })).toEqual({
        examined: 1,
        refunded: 1,
        skipped: 0,
        more: false,
      });
      for (const escrow of backlog) expect((await escrowOf(escrow.id))?.status).toBe("refunded");
    });

    it("skips an escrow an outcome settled between listing and locking", async () => {
      const racing = await createEscrow(iso(-20 * DAY), "7");
      const racy: GovernanceStore = {
        ...store,
        async listExpiredEscrows(createdBefore, limit) {
          const due = await store.listExpiredEscrows(createdBefore, limit);
          // The ledger outcome's projection releases it right after the sweeper listed it.
          await store.transaction((tx) => tx.escrows.transition(racing.id, "released", "api", iso(0)));
          return due;
        },
      };
      const before = (await refundRows()).length;

      expect(await createEscrowService({ store: racy, timeoutMs: TIMEOUT, now }).refundExpired()).toEqual({
        examined: 1,
        refunded: 0,
        skipped: 1,
        more: false,
      });
      expect(await escrowOf(racing.id)).toMatchObject({ status: "released", resolved_by: "api" });
      expect(await refundRows()).toHaveLength(before);
      expect(await store.verifyAudit()).toMatchObject({ ok: true });
    });
  });
}

escrowSweeperSuite("PGlite", openPgliteTestStore);

describe.skipIf(!process.env.DATABASE_URL)("with DATABASE_URL", () => {
  escrowSweeperSuite("PostgreSQL server", () => openPgTestStore(process.env.DATABASE_URL as string));
});

// ------------------------------------------------------------------------------------------------
// Opening the governance store from configuration
// ------------------------------------------------------------------------------------------------

describe("openGovernance (container)", () => {
  it("refuses to run outside the local stack without DATABASE_URL, even with a data directory", async () => {
    await expect(openGovernance(loadConfig({ AUDIT_HMAC_KEY: AUDIT_KEY }))).rejects.toThrow(
      "DATABASE_URL or DATABASE_URL_SECRET_ARN must be configured outside the local stack",
    );
    await expect(
      openGovernance(
        loadConfig({ AUDIT_HMAC_KEY: AUDIT_KEY, AGENTFORGE_LOCAL: "false", AGENTFORGE_DATA_DIR: tmpdir() }),
      ),
    ).rejects.toThrow("DATABASE_URL or DATABASE_URL_SECRET_ARN must be configured outside the local stack");
  });

  it("refuses to open without an audit key, and configuration refuses a short one", async () => {
    await expect(openGovernance(loadConfig({ AGENTFORGE_LOCAL: "true" }))).rejects.toThrow(
      "AUDIT_HMAC_KEY or AUDIT_HMAC_KEY_ARN must be configured",
    );
    await expect(
      openGovernance(loadConfig({ DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test" })),
    ).rejects.toThrow("AUDIT_HMAC_KEY or AUDIT_HMAC_KEY_ARN must be configured");
    expect(() => loadConfig({ AUDIT_HMAC_KEY: "too-short" })).toThrow(
      "Invalid configuration: AUDIT_HMAC_KEY: must be at least 32 characters",
    );
  });

  it("locally opens a persisted PGlite under <AGENTFORGE_DATA_DIR>/pglite that survives a reopen", async () => {
    const dataDir = await tempDir("open-governance");
    const config = loadConfig({
      AUDIT_HMAC_KEY: AUDIT_KEY,
      AGENTFORGE_LOCAL: "true",
      AGENTFORGE_DATA_DIR: dataDir,
    });

    const first = await openGovernance(config);
    let appended: Awaited<ReturnType<GovernanceStore["listAudit"]>>;
    try {
      await first.transaction(async (tx) => {
        await tx.audit.append(auditRow(1, "2031-06-01T00:00:00.000Z"));
        await tx.audit.append(auditRow(2, "2031-06-01T00:00:01.000Z"));
      });
      appended = await first.listAudit();
    } finally {
      await first.close();
    }
    expect(existsSync(join(dataDir, "pglite", "PG_VERSION"))).toBe(true);

    const second = await openGovernance(config);
    try {
      expect(await second.listAudit()).toEqual(appended);
      expect(appended.map((row) => row.seq)).toEqual([1, 2]);
      expect(await second.verifyAudit()).toEqual({ ok: true, rows: 2, verified_through: 2, complete: true });
    } finally {
      await second.close();
    }
  });

  describe.skipIf(!process.env.DATABASE_URL)("with DATABASE_URL", () => {
    it("uses the PostgreSQL server when DATABASE_URL is set, even in the local stack", async () => {
      const base = process.env.DATABASE_URL as string;
      const schema = randomSchemaName();
      const admin = createPgClient({ connectionString: base, max: 1 });
      await admin.exec(`CREATE SCHEMA ${schema}`);
      const dataDir = await tempDir("open-governance-pg");
      try {
        const url = new URL(base);
        url.searchParams.set("options", `-c search_path=${schema}`);
        const store = await openGovernance(
          loadConfig({
            DATABASE_URL: url.toString(),
            AUDIT_HMAC_KEY: AUDIT_KEY,
            AGENTFORGE_LOCAL: "true",
            AGENTFORGE_DATA_DIR: dataDir,
          }),
        );
        try {
          await store.transaction((tx) => tx.audit.append(auditRow(1, "2031-06-01T00:00:00.000Z")));
          expect(await store.verifyAudit()).toEqual({
            ok: true,
            rows: 1,
            verified_through: 1,
            complete: true,
          });
        } finally {
          await store.close();
        }
        const rows = await admin.query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM ${schema}.audit_logs`,
        );
        expect(rows).toEqual([{ n: 1 }]);
        expect(existsSync(join(dataDir, "pglite"))).toBe(false);
      } finally {
        await admin.close();
        await dropSchema(base, schema);
      }
    });
  });

  it("exports databaseUrlFromSecret for the DATABASE_URL secret (see test/unit/database-url-secret.test.ts)", () => {
    expect(databaseUrlFromSecret(" postgres://u:p@h/db ")).toBe("postgres://u:p@h/db");
  });
});

// ------------------------------------------------------------------------------------------------
// The audit verify CLI
// ------------------------------------------------------------------------------------------------

interface CliRun {
  code: number | null;
  /** Printed its verdict but had not exited `GRACE_MS` later (killed then). */
  hung: boolean;
  stdout: string;
  stderr: string;
}

/**
 * How long the CLI may take to exit once it printed its verdict (closing the embedded database).
 * A hang is forever; 10 s keeps a loaded CI machine (three test workers, spawned stacks) from
 * reading a slow close as one.
 */
const GRACE_MS = 10_000;
/** Start-up (npx + tsx) and the check together; a run still silent after this is killed. */
const CLI_TIMEOUT_MS = 40_000;

const children = new Set<ChildProcess>();

/** Kills the child's whole process group (npx → sh → tsx → node), which this test started. */
function killGroup(child: ChildProcess) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

afterAll(async () => {
  for (const child of children) killGroup(child);
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Runs `npx tsx src/cli/audit-verify.ts` with only PATH, HOME and `vars` in its environment. */
function runAuditVerify(vars: Record<string, string>): Promise<CliRun> {
  const env: Record<string, string> = { ...vars };
  if (process.env.PATH) env.PATH = process.env.PATH;
  if (process.env.HOME) env.HOME = process.env.HOME;
  const child = spawn("npx", ["tsx", "src/cli/audit-verify.ts"], {
    cwd: REPO_ROOT,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  return new Promise<CliRun>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    let hung = false;
    let grace: NodeJS.Timeout | undefined;
    const verdict = /^(ok: |BROKEN at seq |audit verify: )/m;
    const onOutput = () => {
      if (grace || !verdict.test(stdout + stderr)) return;
      grace = setTimeout(() => {
        hung = true;
        killGroup(child);
      }, GRACE_MS);
    };
    const deadline = setTimeout(() => {
      hung = true;
      killGroup(child);
    }, CLI_TIMEOUT_MS);
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      onOutput();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      onOutput();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(deadline);
      clearTimeout(grace);
      children.delete(child);
      resolve({ code: hung ? null : code, hung, stdout, stderr });
    });
  });
}

describe("audit verify CLI (npx tsx src/cli/audit-verify.ts over a persisted PGlite)", () => {
  let dataDir: string;
  let pgliteDir: string;
  const base = () => ({
    AGENTFORGE_LOCAL: "true",
    AGENTFORGE_DATA_DIR: dataDir,
    AUDIT_HMAC_KEY: AUDIT_KEY,
  });
  beforeAll(async () => {
    dataDir = await tempDir("audit-cli");
    pgliteDir = join(dataDir, "pglite");
    const store = await openGovernanceStore({ auditKey: AUDIT_KEY, dataDir: pgliteDir });
    try {
      await store.transaction(async (tx) => {
        for (const n of [1, 2, 3]) await tx.audit.append(auditRow(n, `2031-06-01T00:00:0${n}.000Z`));
      });
      expect(await store.verifyAudit()).toEqual({ ok: true, rows: 3, verified_through: 3, complete: true });
    } finally {
      await store.close();
    }
  });

  // Regression: the jobs build DynamoDB clients only for the services that use them; audit verify needs Postgres alone.
  it("verifies the chain with just AGENTFORGE_LOCAL, AGENTFORGE_DATA_DIR and AUDIT_HMAC_KEY", async () => {
    const run = await runAuditVerify(base());

    expect(run.stderr).not.toContain("Refusing non-local DynamoDB endpoint");
    expect(run.stdout).toContain("ok: 3 audit rows verified");
    expect(run).toMatchObject({ code: 0, hung: false });
  });

  it("exits 2 with the reason when the chain cannot be checked (no audit key)", async () => {
    const { AUDIT_HMAC_KEY: _key, ...withoutKey } = base();
    const run = await runAuditVerify(withoutKey);

    expect(run.stderr).toContain("audit verify: AUDIT_HMAC_KEY or AUDIT_HMAC_KEY_ARN must be configured");
    expect(run).toMatchObject({ code: 2, hung: false });
  });

  // Regression: the CLI closes the store it opened (an open PGlite would keep the process alive).
  it("prints ok for an intact chain and exits 0", async () => {
    const run = await runAuditVerify(base());

    expect(run.stdout).toContain("ok: 3 audit rows verified");
    expect(run).toMatchObject({ code: 0, hung: false });
  });

  it("names the first bad row of a chain a superuser edited with triggers off, and exits 1", async () => {
    const client = await createPgliteClient({ dataDir: pgliteDir });
    try {
      // The append-only trigger refuses an ordinary edit...
      await expect(client.query("UPDATE audit_logs SET cost = 999 WHERE seq = 2")).rejects.toThrow(
        /append-only/,
      );
      // ...so the tamperer disables triggers for the session, as only a superuser can.
      await client.transaction(async (tx) => {
        await tx.exec("SET LOCAL session_replication_role = replica");
        await tx.query("UPDATE audit_logs SET cost = 999 WHERE seq = 2");
      });
      expect(await client.query("SELECT seq, cost FROM audit_logs ORDER BY seq")).toEqual([
        { seq: 1, cost: "1.250000" },
        { seq: 2, cost: "999.000000" },
        { seq: 3, cost: "3.250000" },
      ]);
    } finally {
      await client.close();
    }

    const run = await runAuditVerify(base());

    expect(run.stdout).toMatch(/^BROKEN at seq 2: .+ \(1 rows verified before it\)$/m);
    expect(run).toMatchObject({ code: 1, hung: false });
  });
});
