import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { afterAll, describe, expect, it } from "vitest";
import { ANCHOR_DIR } from "../../src/adapters/anchors/folder-anchor-store.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import { createPgliteClient } from "../../src/adapters/postgres/pglite.client.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { cutAuditTail } from "../helpers/audit-tamper.js";
import { eventually, type SpawnedStack, spawnStack, stackApi } from "../helpers/spawned-stack.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const databaseUrl = process.env.DATABASE_URL ?? "";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end and reports how it exited (a non-zero exit is an answer, not an error). */
function runCommand(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The real ops CLI (`bin/agentforge.js`) against the stack whose files are in `dataDir`. */
const agentforge = (dataDir: string, ...args: string[]) =>
  runCommand(["bin/agentforge.js", "--data-dir", dataDir, ...args], { DATABASE_URL: undefined });

/** Registers `count` agents through the API: each registration is projected into the audit log. */
async function registerAgents(stack: SpawnedStack, prefix: string, count: number): Promise<void> {
  const sqs = createSqsClient({ endpoint: stack.endpoints.sqs_endpoint, requireLocal: true });
  try {
    for (let i = 1; i <= count; i += 1) {
      const id = `${prefix}-${i}`;
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `agent-${id}` }));
      const response = await stackApi(stack, "POST", "/agents", {
        agent_id: id,
        capabilities: ["python"],
        cost_model: "green",
        bidding_endpoint: QueueUrl,
      });
      expect(response.status).toBe(201);
    }
  } finally {
    sqs.destroy();
  }
}

/** Waits until the projector has anchored the whole chain (at least `rows` rows), as GET /audit/verify reports it. */
async function anchoredHead(stack: SpawnedStack, rows: number) {
  return eventually("the projector's anchor at the chain head", async () => {
    const { status, body } = await stackApi(stack, "GET", "/audit/verify");
    expect(status).toBe(200);
    expect(body.ok).toBe(true);
    return body.anchor && body.rows >= rows && body.unanchored_rows === 0
      ? (body as { rows: number; anchor: { seq: number; anchored_at: string } })
      : undefined;
  });
}

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe("tamper test: agentforge audit verify names the anchor when the owner cuts the tail", () => {
  it("PGlite: the owner deletes the last 3 rows and rewinds the head while the stack is stopped; verify exits 1", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "agentforge-anchor-cli-"));
    dirs.push(dataDir);
    let stack = await spawnStack({ dataDir, inMemory: false });
    let secrets: SpawnedStack["secrets"];
    let anchored: Awaited<ReturnType<typeof anchoredHead>>;
    try {
      await registerAgents(stack, "anchor-pglite", 4);
      anchored = await anchoredHead(stack, 4);
      secrets = stack.secrets;
      const intact = await agentforge(dataDir, "audit", "verify");
      expect(intact.stdout).toContain(
        `anchor:          seq ${anchored.anchor.seq} of ${anchored.anchor.anchored_at}`,
      );
      expect(intact.code).toBe(0);
    } finally {
      await stack.interrupt();
    }
    // The anchors are read-only files in the data directory, outside the database.
    expect((await readdir(join(dataDir, ANCHOR_DIR))).length).toBeGreaterThan(0);

    // The stack held the database; now the owner (PGlite's superuser) has it to itself.
    const owner = await createPgliteClient({ dataDir: join(dataDir, "pglite") });
    let head: number;
    try {
      head = await cutAuditTail(owner, 3);
    } finally {
      await owner.close();
    }
    expect(head).toBe(anchored.rows - 3);
    const named = `anchor seq ${anchored.anchor.seq} of ${anchored.anchor.anchored_at}`;

    // npm run audit:verify (the full walk) on the stopped stack's data directory.
    const full = await runCommand(["--import", "tsx", "src/cli/audit-verify.ts"], {
      AGENTFORGE_LOCAL: "true",
      AGENTFORGE_DATA_DIR: dataDir,
      AUDIT_HMAC_KEY: secrets.audit_hmac_key,
      DATABASE_URL: undefined,
    });
    expect(full.stdout).toContain(
      `rows deleted after seq ${head}: the chain head ${head} is behind ${named}`,
    );
    expect(full.code).toBe(1);

    stack = await spawnStack({ dataDir, inMemory: false });
    try {
      const broken = await agentforge(dataDir, "audit", "verify");
      expect(broken.stdout).toMatch(
        new RegExp(
          `^BROKEN at seq ${head + 1}: rows deleted after seq ${head}: the chain head ${head} is behind `,
        ),
      );
      expect(broken.stdout).toContain(named);
      expect(broken.code).toBe(1);
      const fromAnchor = await agentforge(dataDir, "audit", "verify", "--from", "anchor");
      expect(fromAnchor.stdout).toContain(named);
      expect(fromAnchor.code).toBe(1);
    } finally {
      await stack.interrupt();
    }
  }, 150_000);

  describe.skipIf(!databaseUrl)("with DATABASE_URL", () => {
    it("server: the owner deletes the last 3 rows and rewinds the head while the stack runs; verify exits 1", async () => {
      const database = `agentforge_anchor_${randomBytes(4).toString("hex")}`;
      const admin = createPgClient({ connectionString: databaseUrl, max: 1 });
      await admin.exec(`CREATE DATABASE ${database}`);
      const url = new URL(databaseUrl);
      url.pathname = `/${database}`;
      const dataDir = await mkdtemp(join(tmpdir(), "agentforge-anchor-cli-pg-"));
      dirs.push(dataDir);
      const owner = createPgClient({ connectionString: url.toString(), max: 1 });
      let stack: SpawnedStack | undefined;
      try {
        stack = await spawnStack({ dataDir, inMemory: true, env: { DATABASE_URL: url.toString() } });
        await registerAgents(stack, "anchor-pg", 4);
        const anchored = await anchoredHead(stack, 4);
        const named = `anchor seq ${anchored.anchor.seq} of ${anchored.anchor.anchored_at}`;

        const head = await cutAuditTail(owner, 3);
        expect(head).toBe(anchored.rows - 3);

        const broken = await agentforge(dataDir, "audit", "verify");
        expect(broken.stdout).toContain(
          `rows deleted after seq ${head}: the chain head ${head} is behind ${named}`,
        );
        expect(broken.code).toBe(1);
        const json = await agentforge(dataDir, "--json", "audit", "verify", "--from", "anchor");
        expect(JSON.parse(json.stdout)).toMatchObject({
          ok: false,
          first_bad_seq: head + 1,
          anchor: { seq: anchored.anchor.seq, anchored_at: anchored.anchor.anchored_at },
        });
        expect(json.code).toBe(1);
      } finally {
        await stack?.interrupt().catch(() => undefined);
        await owner.close();
        await admin.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await admin.close();
      }
    }, 150_000);
  });
});
