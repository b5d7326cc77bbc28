import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type AttributeValue, PutItemCommand, QueryCommand, ScanCommand } from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentMessage, Unsealed } from "../../examples/agent/src/protocol.js";
import { createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import type { SqlClient } from "../../src/adapters/postgres/sql-client.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { githubPayload, issuesClosedPayload, pullRequestMergedPayload } from "../fixtures/github.js";
import { sendSealedAgentMessage } from "../helpers/agent-messages.js";
import {
  eventually,
  mergeRecorded,
  nextSignedMessage,
  postWebhook,
  readRawItem,
  type SpawnedStack,
  spawnStack,
  stackApi,
} from "../helpers/spawned-stack.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SERVER = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/test";
const run = promisify(execFile);

/**
 * Issue 14's acceptance test: one poison record must not stop governance. A spawned `npm start` on
 * a fresh database of the PostgreSQL server (so the test can act as its owner while the stack runs),
 * driven through its HTTP API, SQS, raw DynamoDB writes and the `agentforge` CLI.
 */
describe("npm start: a poison record is set aside, governance goes on, replay applies it once", () => {
  const database = `agentforge_poison_${randomBytes(4).toString("hex")}`;
  let dataDir: string;
  let stack: SpawnedStack;
  let admin: SqlClient;
  let db: SqlClient;
  let dynamo: ReturnType<typeof createDynamoClient>;
  let sqs: ReturnType<typeof createSqsClient>;

  beforeAll(async () => {
    admin = createPgClient({ connectionString: SERVER, max: 1 });
    await admin.exec(`CREATE DATABASE ${database}`);
    const url = new URL(SERVER);
    url.pathname = `/${database}`;
    dataDir = await mkdtemp(join(tmpdir(), "agentforge-poison-"));
    stack = await spawnStack({ dataDir, inMemory: true, env: { DATABASE_URL: url.toString() } });
    db = createPgClient({ connectionString: url.toString(), max: 2 });
    dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb_endpoint, requireLocal: true });
    sqs = createSqsClient({ endpoint: stack.endpoints.sqs_endpoint, requireLocal: true });
  }, 150_000);

  afterAll(async () => {
    await stack?.interrupt().catch(() => undefined);
    dynamo?.destroy();
    sqs?.destroy();
    await db?.close();
    await admin?.exec(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => stackApi(stack, method, path, body);
  const item = (pk: string, sk: string) => readRawItem(dynamo, stack.endpoints.table_name, pk, sk);
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await db.query<{ n: string }>(sql, params))[0]?.n);

  const webhook = async (event: string, payload: Payload) => {
    expect((await postWebhook(stack, event, payload)).status).toBe(202);
  };

  async function registerAgent(id: string, capability: string) {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `agent-${id}` }));
    const response = await api("POST", "/agents", {
      agent_id: id,
      capabilities: [capability],
      cost_model: "green",
      bidding_endpoint: QueueUrl,
    });
    expect(response.status).toBe(201);
    return { id, secret: response.body.bid_secret as string, queueUrl: QueueUrl as string };
  }

  /** The projector's failure store, read without hiding its messages from a replay. */
  async function failureMessages(): Promise<Payload[]> {
    const { QueueUrl } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: "agentforge-projector-failures" }),
    );
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        WaitTimeSeconds: 1,
      }),
    );
    return Messages.map((message) => JSON.parse(message.Body ?? "null"));
  }

  const replay = async () => {
    const { stdout } = await run(
      process.execPath,
      ["bin/agentforge.js", "--json", "--data-dir", dataDir, "governance", "replay", "--limit", "10"],
      { cwd: REPO_ROOT, env: { ...process.env, AGENTFORGE_DATA_DIR: dataDir } },
    );
    return JSON.parse(stdout);
  };

  it("refuses NULs at the edge, skips a record Postgres refuses, projects the next flow in 10 s, replays once", async () => {
    const { endpoints } = stack;
    const cheap = await registerAgent("poison-cheap", "python");

    // An issue, so the poisoned message below names an existing task.
    const issue: Payload = githubPayload("issues", "opened");
    issue.issue.number = 8101;
    issue.issue.html_url = "https://github.com/Codertocat/Hello-World/issues/8101";
    issue.issue.labels = ["agentforge", "cap:python", "budget:100"].map((name, id) => ({ id, name }));
    const url: string = issue.issue.html_url;
    await webhook("issues", issue);
    await eventually("the TASK item", () => item(`TASK#${url}`, "TASK"));

    // 1. The edges: an unsigned NUL-typed message writes nothing; a NUL endpoint is a 400.
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: endpoints.bids_queue_url,
        MessageBody: JSON.stringify({ type: "\u0000", task_id: url }),
      }),
    );
    await eventually("the bids queue to be worked off", async () => {
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: endpoints.bids_queue_url,
          AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        }),
      );
      const left =
        Number(Attributes.ApproximateNumberOfMessages) +
        Number(Attributes.ApproximateNumberOfMessagesNotVisible);
      return left === 0 ? true : undefined;
    });
    const { Items: rejections = [] } = await dynamo.send(
      new ScanCommand({
        TableName: endpoints.table_name,
        FilterExpression: "#type = :rejection",
        ExpressionAttributeNames: { "#type": "type" },
        ExpressionAttributeValues: { ":rejection": { S: "BID_REJECTION" } },
        ConsistentRead: true,
      }),
    );
    expect(rejections).toEqual([]);
    const nulEndpoint = await api("POST", "/agents", {
      agent_id: "poison-nul",
      capabilities: ["python"],
      cost_model: "green",
      bidding_endpoint: "https://agent.example/bi\u0000ds",
    });
    expect(nulEndpoint.status).toBe(400);
    expect(await item("AGENT#poison-nul", "PROFILE")).toBeUndefined();

    // 2. A record bad in another way, forced in raw: it passes the projection schema, but its
    // performance totals overflow agent_trust.outcomes (integer): SQLSTATE 22003, permanent.
    await registerAgent("poison-agent", "poison");
    const registered = await eventually("the registration's trust written back", async () => {
      const profile = await item("AGENT#poison-agent", "PROFILE");
      return profile?.trust_score ? profile : undefined;
    });
    const version = Number(registered.version?.N) + 1;
    const poisoned: Record<string, AttributeValue> = {
      ...registered,
      performance_totals: {
        M: { ...registered.performance_totals?.M, outcomes: { N: "3000000000" } },
      },
      version: { N: String(version) },
      updated_at: { S: new Date().toISOString() },
    };
    await dynamo.send(new PutItemCommand({ TableName: endpoints.table_name, Item: poisoned }));
    const poisonKey = `agent:poison-agent:v${version}`;
    const [stored] = await eventually("the poison record in the failure store", async () => {
      const found = (await failureMessages()).filter((m) => m?.failed_event_key === poisonKey);
      return found.length > 0 ? found : undefined;
    });
    expect(stored).toMatchObject({
      kind: "agentforge.projection-failure",
      event_keys: [poisonKey],
      error: { class: "permanent", reason: "invalid-data", sqlstate: "22003" },
      record: { eventName: "MODIFY", dynamodb: { NewImage: { agent_id: { S: "poison-agent" } } } },
    });
    expect(
      await count(
        "SELECT count(*) AS n FROM audit_logs WHERE action = 'projection_skipped' AND details->>'event_key' = $1",
        [poisonKey],
      ),
    ).toBe(1);

    // 3. The stream moved on: a whole task flow after it gets its escrow and audit rows.
    const request = await nextSignedMessage<Payload>(sqs, cheap, "the BID_REQUEST");
    await sendSealedAgentMessage(
      sqs,
      request.reply_to,
      {
        type: "BID",
        task_id: url,
        agent_id: cheap.id,
        bid_amount: 40,
        estimated_completion_sec: 600,
      } as Unsealed<AgentMessage>,
      cheap.secret,
    );
    await nextSignedMessage<Payload>(sqs, cheap, "the AWARD");
    // GitHub's times a little after the award, so the entry's completion_time_sec is a valid one.
    const mergedAt = new Date(Date.now() + 50 * 60_000).toISOString();
    const closedAt = new Date(Date.now() + 60 * 60_000).toISOString();
    const pr: Payload = pullRequestMergedPayload(mergedAt);
    pr.pull_request.body = "Fixes #8101";
    await webhook("pull_request", pr);
    await mergeRecorded(dynamo, endpoints.table_name, url);
    const closed: Payload = issuesClosedPayload("completed", closedAt);
    closed.issue.number = 8101;
    closed.issue.html_url = url;
    const outcomeAt = Date.now();
    await webhook("issues", closed);
    await eventually(
      "the released escrow and the flow's audit rows",
      async () => {
        const escrows = await db.query<{ status: string }>("SELECT status FROM escrows WHERE task_id = $1", [
          url,
        ]);
        const actions = (
          await db.query<{ action: string }>(
            "SELECT action FROM audit_logs WHERE resource = $1 OR details->>'task_id' = $1 ORDER BY seq",
            [url],
          )
        ).map((row) => row.action);
        const complete = ["award_made", "escrow_created", "ledger_outcome", "escrow_released"].every((a) =>
          actions.includes(a),
        );
        return escrows[0]?.status === "released" && complete ? true : undefined;
      },
      10_000,
    );
    expect(Date.now() - outcomeAt).toBeLessThan(10_000);
    const { Items: ledger = [] } = await dynamo.send(
      new QueryCommand({
        TableName: endpoints.table_name,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :ledger)",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${url}` }, ":ledger": { S: "LEDGER#" } },
        ConsistentRead: true,
      }),
    );
    expect(ledger).toHaveLength(1);
    expect(await count("SELECT count(*) AS n FROM projected_events WHERE event_key = $1", [poisonKey])).toBe(
      0,
    );

    // 4. The fix: as the database owner, widen the column that refused the record. Then replay.
    await db.exec("ALTER TABLE agent_trust ALTER COLUMN outcomes TYPE bigint");
    const first = await replay();
    expect(first).toMatchObject({ replayed: 1, already_applied: 0, still_failing: [], stopped: null });
    expect(await count("SELECT count(*) AS n FROM projected_events WHERE event_key = $1", [poisonKey])).toBe(
      1,
    );
    const [trust] = await db.query<{ outcomes: string; profile_version: number }>(
      "SELECT outcomes, profile_version FROM agent_trust WHERE agent_id = 'poison-agent'",
    );
    expect(trust).toEqual({ outcomes: "3000000000", profile_version: version });
    expect((await failureMessages()).filter((m) => m?.failed_event_key === poisonKey)).toEqual([]);

    // A second replay applies nothing: the same projected events, and only the run's own audit row.
    const events = await count("SELECT count(*) AS n FROM projected_events");
    const rows = await count("SELECT count(*) AS n FROM audit_logs");
    const second = await replay();
    expect(second).toMatchObject({ messages: 0, replayed: 0, still_failing: [] });
    expect(await count("SELECT count(*) AS n FROM projected_events")).toBe(events);
    expect(await count("SELECT count(*) AS n FROM audit_logs")).toBe(rows + 1);
    const [run2] = await db.query<{ action: string; actor: string }>(
      "SELECT action, actor FROM audit_logs ORDER BY seq DESC LIMIT 1",
    );
    expect(run2).toEqual({ action: "projection_replayed", actor: "operator:default" });
  }, 120_000);
});

/**
 * The same poison on embedded PGlite (the default): it is set aside and the next flow still gets its
 * escrow. PGlite is held by the stack process, so the fix cannot be made while it runs (and the SQS
 * emulator keeps the failure store in memory only): a replay before the fix leaves the record in the
 * store with its new error, and the CLI exits 1.
 */
describe("npm start on PGlite: the poison record is set aside and stays until fixed", () => {
  let dataDir: string;
  let stack: SpawnedStack;
  let dynamo: ReturnType<typeof createDynamoClient>;
  let sqs: ReturnType<typeof createSqsClient>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "agentforge-poison-pglite-"));
    stack = await spawnStack({ dataDir, inMemory: true });
    dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb_endpoint, requireLocal: true });
    sqs = createSqsClient({ endpoint: stack.endpoints.sqs_endpoint, requireLocal: true });
  }, 150_000);

  afterAll(async () => {
    await stack?.interrupt().catch(() => undefined);
    dynamo?.destroy();
    sqs?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("sets the record aside, projects later changes, and a replay before the fix keeps it with its error", async () => {
    const { endpoints } = stack;
    const item = (pk: string, sk: string) => readRawItem(dynamo, endpoints.table_name, pk, sk);
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "agent-pglite-poison" }));
    const registration = await stackApi(stack, "POST", "/agents", {
      agent_id: "pglite-poison",
      capabilities: ["poison"],
      cost_model: "green",
      bidding_endpoint: QueueUrl,
    });
    expect(registration.status).toBe(201);
    const registered = await eventually("the registration's trust written back", async () => {
      const profile = await item("AGENT#pglite-poison", "PROFILE");
      return profile?.trust_score ? profile : undefined;
    });
    const version = Number(registered.version?.N) + 1;
    await dynamo.send(
      new PutItemCommand({
        TableName: endpoints.table_name,
        Item: {
          ...registered,
          performance_totals: { M: { ...registered.performance_totals?.M, outcomes: { N: "3000000000" } } },
          version: { N: String(version) },
          updated_at: { S: new Date().toISOString() },
        },
      }),
    );
    const poisonKey = `agent:pglite-poison:v${version}`;
    const { QueueUrl: failures } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: "agentforge-projector-failures" }),
    );
    const peek = async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: failures,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 0,
          WaitTimeSeconds: 1,
        }),
      );
      return Messages.map((m) => JSON.parse(m.Body ?? "null")).filter(
        (m) => m?.failed_event_key === poisonKey,
      );
    };
    const [stored] = await eventually("the poison record in the failure store", async () => {
      const found = await peek();
      return found.length > 0 ? found : undefined;
    });
    expect(stored).toMatchObject({
      error: { reason: "invalid-data", sqlstate: "22003" },
      replay_attempts: 0,
    });

    // The stream moved on: a later registration is projected (governance writes its trust back).
    const { QueueUrl: laterQueue } = await sqs.send(
      new CreateQueueCommand({ QueueName: "agent-pglite-later" }),
    );
    const later = await stackApi(stack, "POST", "/agents", {
      agent_id: "pglite-later",
      capabilities: ["poison"],
      cost_model: "green",
      bidding_endpoint: laterQueue,
    });
    expect(later.status).toBe(201);
    const registeredAt = Date.now();
    await eventually(
      "the later registration projected past the poison record",
      async () => ((await item("AGENT#pglite-later", "PROFILE"))?.trust_score ? true : undefined),
      10_000,
    );
    expect(Date.now() - registeredAt).toBeLessThan(10_000);

    // Replay before the fix: still failing, put back with its new error; the CLI exits 1.
    const replay = await run(
      process.execPath,
      ["bin/agentforge.js", "--json", "--data-dir", dataDir, "governance", "replay"],
      { cwd: REPO_ROOT, env: { ...process.env, AGENTFORGE_DATA_DIR: dataDir } },
    ).then(
      () => ({ code: 0, stdout: "" }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
    expect(replay.code).toBe(1);
    expect(JSON.parse(replay.stdout)).toMatchObject({
      replayed: 0,
      still_failing: [{ event_key: poisonKey, reason: "invalid-data", sqlstate: "22003" }],
    });
    const [kept] = await peek();
    expect(kept).toMatchObject({ failed_event_key: poisonKey, replay_attempts: 1 });
  }, 90_000);
});
