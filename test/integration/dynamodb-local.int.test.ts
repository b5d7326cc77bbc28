import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { afterEach, describe, expect, it } from "vitest";
import { createDynamoClient } from "../../src/adapters/dynamo/client.js";
import {
  DynamoDbLocalStartError,
  FAST_START_JAVA_OPTIONS,
  freePort,
  startDynamoDbLocal,
} from "../../src/local/dynamodb-local.js";

/**
 * The launcher itself, with JVMs of its own (the shared one from the global setup is not touched).
 * These tests prove that no JVM outlives its owner: after stop(), after a failed start, and after
 * the owning process is SIGKILLed.
 */

/** Whether `process.kill(pid, 0)` fails with ESRCH: the process is gone and reaped. */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function expectGone(pid: number) {
  expect(isGone(pid), `process ${pid} still exists`).toBe(true);
}

/** Dead, though perhaps a zombie nobody reaps (an orphan under a PID 1 that does not reap). */
function isDead(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

async function answers(endpoint: string): Promise<boolean> {
  const client = createDynamoClient({ endpoint, requireLocal: true, maxAttempts: 1 });
  try {
    await client.send(new ListTablesCommand({}));
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

async function listen(port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no address");
  return { server, port: address.port };
}

describe("DynamoDB Local launcher", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup().catch(() => {})));
  });
  const started = async (options: Parameters<typeof startDynamoDbLocal>[0]) => {
    const local = await startDynamoDbLocal({ javaOptions: FAST_START_JAVA_OPTIONS, ...options });
    cleanups.push(() => local.stop());
    return local;
  };

  it("starts a second instance that answers, and stop() resolves only once the JVM is gone", async () => {
    const local = await started({});
    expect(local.jvmPid).toBeGreaterThan(0);
    expect(local.jvmPid).not.toBe(local.pid);
    expect(await answers(local.endpoint)).toBe(true);

    await local.stop();
    expectGone(local.jvmPid);
    expectGone(local.pid);
    expect(await answers(local.endpoint)).toBe(false);
    await local.stop(); // idempotent
  });

  it("fails fast and clearly on an explicit port that is already taken, leaving no JVM behind", async () => {
    const { server, port } = await listen();
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const begun = Date.now();
    const error = await startDynamoDbLocal({ port, javaOptions: FAST_START_JAVA_OPTIONS }).catch(
      (e: unknown) => e,
    );

    expect(error).toBeInstanceOf(DynamoDbLocalStartError);
    const failure = error as DynamoDbLocalStartError;
    expect(Date.now() - begun).toBeLessThan(10_000);
    expect(failure.message.split("\n")[0]).toMatch(
      new RegExp(`cannot listen on port ${port}: something else already uses it`),
    );
    expect(failure.message).toMatch(/exited during startup with code 1: java\.net\.BindException/);
    expect(failure.details).toMatchObject({ port, portInUse: true, exitCode: 1 });
    // The JVM's own words are kept, so the cause is visible without re-running anything.
    expect(failure.details.output).toMatch(/Address already in use/);
    expect(failure.details.jvmPid).toBeGreaterThan(0);
    expectGone(failure.details.jvmPid ?? -1);
  });

  it("retries on a new port when an auto-picked port is taken by the time the JVM binds it", async () => {
    const { server, port: taken } = await listen();
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const picked: number[] = [];
    const local = await started({
      pickPort: async () => {
        const port = picked.length === 0 ? taken : await freePort();
        picked.push(port);
        return port;
      },
    });
    expect(picked).toHaveLength(2);
    expect(picked[0]).toBe(taken);
    expect(local.port).toBe(picked[1]);
    expect(await answers(local.endpoint)).toBe(true);
  });

  it("stop() SIGKILLs a JVM that ignores SIGTERM once the grace period is over", async () => {
    const local = await started({ stopGraceMs: 300 });
    // A stopped process leaves SIGTERM pending forever; only SIGKILL ends it.
    process.kill(local.jvmPid, "SIGSTOP");
    const begun = Date.now();
    await local.stop();
    expect(Date.now() - begun).toBeGreaterThanOrEqual(250);
    expect(Date.now() - begun).toBeLessThan(5_000);
    expectGone(local.jvmPid);
  });

  it("kills the JVM when the process that started it is SIGKILLed", async () => {
    const launcher = new URL("../../src/local/dynamodb-local.ts", import.meta.url).href;
    const script = `
      import { startDynamoDbLocal } from ${JSON.stringify(launcher)};
      const local = await startDynamoDbLocal({ javaOptions: ${JSON.stringify(FAST_START_JAVA_OPTIONS)} });
      process.stdout.write(JSON.stringify({ pid: local.pid, jvmPid: local.jvmPid }) + "\\n");
      setInterval(() => {}, 60_000);
    `;
    const owner = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    owner.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const ownerExited = new Promise<void>((resolve) => owner.once("exit", () => resolve()));
    cleanups.push(async () => {
      owner.kill("SIGKILL");
      await ownerExited;
    });
    const pids = await new Promise<{ pid: number; jvmPid: number }>((resolve, reject) => {
      let stdout = "";
      owner.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split("\n")[0];
        if (stdout.includes("\n") && line) resolve(JSON.parse(line));
      });
      void ownerExited.then(() => reject(new Error(`the owner process exited early:\n${stderr}`)));
    });
    expect(isDead(pids.jvmPid)).toBe(false);

    owner.kill("SIGKILL");
    await ownerExited;
    // Its guardian reaps it, so it ends up gone rather than a zombie; then the guardian exits too
    // (it may linger as a zombie where PID 1 does not reap orphans).
    expect(await eventually(() => isGone(pids.jvmPid), 5_000), `JVM ${pids.jvmPid} survived`).toBe(true);
    expect(await eventually(() => isDead(pids.pid), 2_000), `guardian ${pids.pid} survived`).toBe(true);
  });
});
