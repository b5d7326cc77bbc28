import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { type AttributeValue, type DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";
import { type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll } from "vitest";
import {
  type MarketplaceMessage,
  NonceMemory,
  SIGNATURE_ATTRIBUTE,
  verifyMarketplaceMessage,
} from "../../examples/agent/src/protocol.js";
import {
  type LocalEndpoints,
  type LocalSecrets,
  readEndpoints,
  readSecrets,
} from "../../src/local/stack-files.js";
import { githubDelivery } from "../fixtures/github.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

/** Stacks this file started and has not stopped: killed (SIGKILL, whole group) after the file. */
const started = new Set<ChildProcess>();
afterAll(() => {
  for (const child of started) killGroup(child, "SIGKILL");
  started.clear();
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  try {
    // The stack runs in a process group of its own: a negative pid signals all of it, as Ctrl-C does.
    process.kill(-(child.pid as number), signal);
    return true;
  } catch {
    return false;
  }
}

/** True while any process of the group is alive (signal 0 only checks). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface SpawnedStack {
  endpoints: LocalEndpoints;
  secrets: LocalSecrets;
  /** Everything `npm start` printed so far (stdout and stderr). */
  output(): string;
  /**
   * Ctrl-C: SIGINT to the whole process group, then waits for `npm start` to exit. Resolves to how
   * npm exited (after its script, npm re-raises the signal it got) and whether any process of the
   * group (npm, tsx, node, the JVM, its guardian) remains.
   */
  interrupt(): Promise<{ code: number | null; signal: NodeJS.Signals | null; leftovers: boolean }>;
}

/**
 * Runs `npm start` (with `--in-memory` when asked) as a child process in its own process group on a
 * free port, and resolves once it prints its ready line. Governance uses embedded PGlite: the
 * PostgreSQL server of the test run is not handed to it.
 */
export async function spawnStack(options: {
  dataDir: string;
  inMemory: boolean;
  env?: Record<string, string>;
}): Promise<SpawnedStack> {
  const { DATABASE_URL: _serverForOtherTests, ...inherited } = process.env;
  const child = spawn("npm", ["start", ...(options.inMemory ? ["--", "--in-memory"] : [])], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...inherited, PORT: "0", AGENTFORGE_DATA_DIR: options.dataDir, ...options.env },
  });
  started.add(child);
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm start printed no ready line in ${READY_TIMEOUT_MS} ms:\n${output}`)),
      READY_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("AgentForge is ready:")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code} before it was ready:\n${output}`));
    });
  });
  await ready;
  const pgid = child.pid as number;
  return {
    endpoints: readEndpoints(options.dataDir),
    secrets: readSecrets(options.dataDir),
    output: () => output,
    async interrupt() {
      killGroup(child, "SIGINT");
      const { code, signal } = await Promise.race([
        exited,
        new Promise<never>((_, reject) =>
          setTimeout(
            () => reject(new Error(`npm start did not exit after SIGINT:\n${output}`)),
            STOP_TIMEOUT_MS,
          ),
        ),
      ]);
      started.delete(child);
      // Children may take a moment to be reaped after npm itself has exited.
      const deadline = Date.now() + 10_000;
      while (groupAlive(pgid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      return { code, signal, leftovers: groupAlive(pgid) };
    },
  };
}

/** A bearer-authenticated JSON request to a spawned stack's REST API: its status and parsed body. */
export async function stackApi(
  stack: Pick<SpawnedStack, "endpoints" | "secrets">,
  method: string,
  path: string,
  body?: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: tests compare API bodies whole or read a few fields.
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.endpoints.api_url}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.secrets.api_token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.json() };
}

/**
 * A request to a spawned stack's HTTP API as any principal: `token` is sent as `Bearer <token>`
 * (`undefined`: no Authorization header at all), `headers` are added as given. The body is sent as
 * JSON unless it is a string (then as is). Resolves to the status and the body, parsed as JSON when
 * it is JSON, else the raw text.
 */
export async function stackRequest(
  stack: Pick<SpawnedStack, "endpoints">,
  request: {
    method: string;
    path: string;
    token: string | undefined;
    body?: unknown;
    headers?: Record<string, string>;
  },
  // biome-ignore lint/suspicious/noExplicitAny: tests compare API bodies whole or read a few fields.
): Promise<{ status: number; body: any; text: string }> {
  const { method, path, token, body, headers = {} } = request;
  const response = await fetch(`${stack.endpoints.api_url}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: the caller gets the text.
  }
  return { status: response.status, body: parsed, text };
}

/** Polls `read` until it returns something other than `undefined`, or fails naming `what`. */
export async function eventually<T>(
  what: string,
  read: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** What each agent's queue has delivered so far, per queue: a message seen twice is a replay. */
const noncesByQueue = new Map<string, NonceMemory>();

/**
 * The next message on an agent's queue, verified as the agent kit verifies it (protocol v2: the
 * signature with the agent's secret, addressed to `agent.id`, `sent_at` within 300 s of SQS's
 * `SentTimestamp`, a nonce not seen before on this queue). A refused message fails the wait with its
 * reason: the spawned-stack tests check the marketplace's wire format themselves.
 */
export function nextSignedMessage<T = MarketplaceMessage>(
  sqs: SQSClient,
  agent: { id: string; queueUrl: string; secret: string },
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  let nonces = noncesByQueue.get(agent.queueUrl);
  if (!nonces) {
    nonces = new NonceMemory();
    noncesByQueue.set(agent.queueUrl, nonces);
  }
  const seen = nonces;
  return eventually(
    what,
    async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: agent.queueUrl,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 0,
          AttributeNames: ["All"],
          MessageAttributeNames: ["All"],
        }),
      );
      const [message] = Messages as Array<Message | undefined>;
      if (!message) return undefined;
      const verified = verifyMarketplaceMessage(
        message.Body ?? "",
        message.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
        {
          agentId: agent.id,
          secrets: [agent.secret],
          acceptedAt: new Date(Number(message.Attributes?.SentTimestamp)),
          nonces: seen,
          ...(message.MessageId ? { deliveryId: message.MessageId } : {}),
        },
      );
      if (!verified.ok) {
        throw new Error(
          `${what}: the agent kit refuses the message on ${agent.queueUrl} (${verified.reason}: ${verified.detail}): ${message.Body}`,
        );
      }
      return verified.message as T;
    },
    timeoutMs,
    50,
  );
}

/** One item of the stack's table as stored (raw attribute values), read consistently. */
export async function readRawItem(
  dynamo: DynamoDBClient,
  tableName: string,
  pk: string,
  sk: string,
): Promise<Record<string, AttributeValue> | undefined> {
  const { Item } = await dynamo.send(
    new GetItemCommand({ TableName: tableName, Key: { PK: { S: pk }, SK: { S: sk } }, ConsistentRead: true }),
  );
  return Item;
}

/**
 * Waits until the task item's evidence holds a merged pull request (raw read). Tests that send a PR
 * merge and then the close call it in between: the intake queue does not keep order, and a
 * close processed first records an outcome that the later merge then supersedes (a second, correct
 * ledger entry), where such a test means to check the single outcome of GitHub's usual order.
 */
export async function mergeRecorded(
  dynamo: DynamoDBClient,
  tableName: string,
  taskId: string,
): Promise<void> {
  await eventually(`the merged pull request in the evidence of ${taskId}`, async () => {
    const task = await readRawItem(dynamo, tableName, `TASK#${taskId}`, "TASK");
    const merges = task?.evidence?.M?.merges?.M;
    return merges && Object.keys(merges).length > 0 ? true : undefined;
  });
}

/**
 * A GitHub delivery of `event` with `payload`, signed with the stack's webhook secret as GitHub signs
 * it, POSTed to the stack's `/webhooks/github`: the receiver's response.
 */
export async function postWebhook(
  stack: Pick<SpawnedStack, "endpoints" | "secrets">,
  event: string,
  payload: unknown,
): Promise<Response> {
  const delivery = githubDelivery({ event, payload, secret: stack.secrets.github_webhook_secret });
  return fetch(`${stack.endpoints.api_url}/webhooks/github`, {
    method: "POST",
    headers: delivery.event.headers as Record<string, string>,
    body: delivery.rawBody,
  });
}
