import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface StartResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** A process of the start's group still ran after it exited (a JVM left behind). */
  leftovers: boolean;
}

/** Runs the `npm start` script's program in its own process group and waits for it to give up. */
async function runStart(env: Record<string, string>): Promise<StartResult> {
  const { DATABASE_URL: _server, ...inherited } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", "src/local/start.ts"], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...inherited, ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const code = await new Promise<number | null>((resolve) =>
    child.once("exit", (exitCode) => resolve(exitCode)),
  );
  // Children (the JVM's guardian, esbuild's service) are reaped a moment after the exit.
  const groupAlive = () => {
    try {
      process.kill(-(child.pid as number), 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 5_000;
  while (groupAlive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const leftovers = groupAlive();
  if (leftovers) process.kill(-(child.pid as number), "SIGKILL");
  return { code, stdout, stderr, leftovers };
}

/** The one line a user gets: `agentforge: <cause and fix>`, no stack trace. */
function expectOneLineError(result: StartResult, pattern: RegExp) {
  expect(result.code).toBe(1);
  const lines = result.stderr
    .split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("npm warn"));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^agentforge: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.leftovers).toBe(false);
}

describe("npm start: problems a user can fix get one line with the fix", () => {
  let root: string;
  let busy: Server;
  let busyPort: number;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "agentforge-start-"));
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    busyPort = (busy.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => busy.close(resolve));
    await rm(root, { recursive: true, force: true });
  });

  it("a busy port", async () => {
    const result = await runStart({ PORT: String(busyPort), AGENTFORGE_DATA_DIR: join(root, "busy") });
    expectOneLineError(result, new RegExp(`Port ${busyPort} .*already in use.*PORT=`));
  });

  it("an invalid PORT", async () => {
    const result = await runStart({ PORT: "http", AGENTFORGE_DATA_DIR: join(root, "port") });
    expectOneLineError(result, /PORT must be a number/);
  });

  it("no Java on PATH", async () => {
    const result = await runStart({
      PATH: "/nonexistent",
      PORT: "0",
      AGENTFORGE_DATA_DIR: join(root, "java"),
    });
    expectOneLineError(result, /needs Java 17\+.*openjdk-17-jre-headless/);
  });

  it("a data directory that is a file", async () => {
    const path = join(root, "file");
    await writeFile(path, "not a directory");
    const result = await runStart({ PORT: "0", AGENTFORGE_DATA_DIR: path });
    expectOneLineError(result, /is a file: remove it or set AGENTFORGE_DATA_DIR/);
  });

  it("a corrupt secrets file", async () => {
    const dir = join(root, "secrets");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "secrets.json"), "{ not json");
    const result = await runStart({ PORT: "0", AGENTFORGE_DATA_DIR: dir });
    expectOneLineError(result, /secrets\.json is not valid JSON: delete .*secrets\.json/);
  });

  it("a corrupt stream checkpoint", async () => {
    const dir = join(root, "checkpoint");
    await mkdir(join(dir, "checkpoints"), { recursive: true });
    await writeFile(join(dir, "checkpoints", "projector.json"), "\u0000\u0001garbage");
    const result = await runStart({ PORT: "0", AGENTFORGE_DATA_DIR: dir });
    expectOneLineError(result, /checkpoint .*projector\.json is corrupt: delete it/);
  });

  it("a damaged governance database, after DynamoDB Local started: no JVM is left behind", async () => {
    const dir = join(root, "pglite");
    await mkdir(join(dir, "pglite"), { recursive: true });
    await writeFile(join(dir, "pglite", "PG_VERSION"), "garbage\n");
    const result = await runStart({ PORT: "0", AGENTFORGE_DATA_DIR: dir });
    expectOneLineError(result, /governance database in .*pglite.*move that directory away/);
  }, 90_000);
});
