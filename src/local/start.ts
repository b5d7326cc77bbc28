import { parseArgs } from "node:util";
import { type LocalStack, startLocalStack } from "./stack.js";
import type { LocalSecrets } from "./stack-files.js";
import { LocalStackError, resolveDataDir } from "./stack-files.js";

const USAGE = `Usage: npm start [--in-memory]

Runs the whole AgentForge marketplace on this machine: DynamoDB Local, the SQS emulator, PGlite
and every function behind its queue, stream, schedule or HTTP route.

  --in-memory   keep nothing: DynamoDB, PGlite and stream positions live in memory
  -h, --help    show this help

Environment: PORT (HTTP API, default 3000), AGENTFORGE_DATA_DIR (default .agentforge/),
GITHUB_WEBHOOK_SECRET, AGENTFORGE_API_TOKEN, AUDIT_HMAC_KEY (generated when unset),
BID_WINDOW_SECONDS, APPROVAL_THRESHOLD, DATABASE_URL (a PostgreSQL server instead of PGlite),
LOG_LEVEL (functions' log level, default WARN).`;

/** Signals this soon after the first are the same Ctrl-C relayed by npm and tsx. */
const DUPLICATE_SIGNAL_MS = 2_000;

const SECRET_LABELS: Record<keyof LocalSecrets, string> = {
  api_token: "AGENTFORGE_API_TOKEN",
  github_webhook_secret: "GITHUB_WEBHOOK_SECRET",
  audit_hmac_key: "AUDIT_HMAC_KEY",
};

function fail(message: string): never {
  console.error(`agentforge: ${message}`);
  process.exit(1);
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return 3000;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    fail(`PORT must be a number from 0 to 65535, got "${raw}".`);
  }
  return port;
}

async function main(): Promise<void> {
  let inMemory = false;
  try {
    const { values } = parseArgs({
      options: { "in-memory": { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      return;
    }
    // `npm start --in-memory` (without `--`) reaches the script as npm config, not as an argument.
    inMemory = values["in-memory"] ?? process.env.npm_config_in_memory === "true";
  } catch (error) {
    fail(`${(error as Error).message}\n${USAGE}`);
  }

  // The SDK's notice about its future Node.js requirement would repeat in every start; README covers it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const dataDir = resolveDataDir();
  const port = parsePort(process.env.PORT);
  console.log(`[agentforge] starting (data in ${dataDir}${inMemory ? ", databases in memory" : ""})`);
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ dataDir, inMemory, port });
  } catch (error) {
    if (error instanceof LocalStackError) fail(error.message);
    throw error;
  }

  if (stack.generatedSecrets.length > 0) {
    console.log(`[agentforge] generated development secrets (saved in ${dataDir}/secrets.json, shown once):`);
    for (const key of stack.generatedSecrets)
      console.log(`[agentforge]   ${SECRET_LABELS[key]}=${stack.secrets[key]}`);
  }
  const { endpoints } = stack;
  console.log(
    `AgentForge is ready: API ${endpoints.api_url} · DynamoDB ${endpoints.dynamodb_endpoint} · SQS ${endpoints.sqs_endpoint} · endpoints in ${dataDir}/endpoints.json (Ctrl-C stops)`,
  );

  let stoppingSince: number | undefined;
  const shutdown = (signal: string) => {
    if (stoppingSince !== undefined) {
      // Ctrl-C reaches this process twice (from the terminal and relayed by npm/tsx): only a later
      // one is the user insisting. The JVM's guardian still ends DynamoDB Local when this exits.
      if (Date.now() - stoppingSince < DUPLICATE_SIGNAL_MS) return;
      console.error(`[agentforge] ${signal} again: exiting without waiting for a clean stop`);
      process.exit(130);
    }
    stoppingSince = Date.now();
    console.log(`[agentforge] ${signal}: stopping…`);
    stack.stop().then(
      () => {
        console.log("[agentforge] stopped");
        process.exit(0);
      },
      (error: unknown) => fail(`shutdown failed: ${(error as Error).message}`),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  // Unexpected: keep the stack trace, it is a bug report.
  console.error(error);
  process.exit(1);
});
