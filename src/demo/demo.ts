import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  ENDPOINTS_FILE,
  type LocalEndpoints,
  readEndpoints,
  readSecrets,
  resolveDataDir,
} from "../local/stack-files.js";
import { formatSummary, runDemoStory } from "./story.js";

/**
 * `npm run demo`: plays one task's whole story against the local stack that `npm start` runs (found
 * through `<data dir>/endpoints.json`), printing a line per step and then a summary table. Exit code
 * 0 when every step completed, 1 otherwise, with a one-line reason on stderr.
 */
const START_HINT = "start the stack with `npm start` in another terminal";

/** Whether a process is alive; EPERM means it is, under another user. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running stack's endpoints, or an error saying how to start one. */
function runningStack(dataDir: string): LocalEndpoints {
  if (!existsSync(join(dataDir, ENDPOINTS_FILE))) {
    throw new Error(`No local stack has run with data directory ${dataDir}: ${START_HINT}`);
  }
  const endpoints = readEndpoints(dataDir);
  if (!isRunning(endpoints.pid)) {
    throw new Error(`The local stack (process ${endpoints.pid}) is not running: ${START_HINT}`);
  }
  return endpoints;
}

// The SDK's notice about its future Node.js requirement would interrupt the story; README covers it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
try {
  const dataDir = resolveDataDir();
  const endpoints = runningStack(dataDir);
  const secrets = readSecrets(dataDir);
  console.log(`AgentForge demo against ${endpoints.api_url}\n`);
  const summary = await runDemoStory({ endpoints, secrets, log: (line) => console.log(line) });
  console.log(`\n${formatSummary(summary)}`);
} catch (error) {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
