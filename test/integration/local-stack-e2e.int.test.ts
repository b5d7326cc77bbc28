import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AttributeValue, QueryCommand } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentMessage, Unsealed } from "../../examples/agent/src/protocol.js";
import { createDynamoClient } from "../../src/adapters/dynamo/client.js";
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

interface Agent {
  id: string;
  secret: string;
  queueUrl: string;
}

/**
 * The issue's acceptance test: `npm start --in-memory` as a child process on free ports, driven only
 * through its HTTP API, its SQS endpoint and raw DynamoDB reads, through the whole story; then Ctrl-C
 * and no process of it may remain.
 */
describe("npm start --in-memory, end to end", () => {
  let dataDir: string;
  let stack: SpawnedStack;
  let dynamo: ReturnType<typeof createDynamoClient>;
  let sqs: ReturnType<typeof createSqsClient>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "agentforge-e2e-"));
    stack = await spawnStack({ dataDir, inMemory: true });
    dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb_endpoint, requireLocal: true });
    sqs = createSqsClient({ endpoint: stack.endpoints.sqs_endpoint, requireLocal: true });
  }, 150_000);

  afterAll(async () => {
    dynamo?.destroy();
    sqs?.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => stackApi(stack, method, path, body);

  const webhook = async (event: string, payload: Payload) => {
    expect((await postWebhook(stack, event, payload)).status).toBe(202);
  };

  const item = (pk: string, sk: string) => readRawItem(dynamo, stack.endpoints.table_name, pk, sk);

  async function registerAgent(id: string): Promise<Agent> {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `agent-${id}` }));
    const response = await api("POST", "/agents", {
      agent_id: id,
      capabilities: ["python"],
      cost_model: "green",
      bidding_endpoint: QueueUrl,
    });
    expect(response.status).toBe(201);
    return { id, secret: response.body.bid_secret, queueUrl: QueueUrl as string };
  }

  /** The next message on an agent's queue, its signature checked against the agent's secret. */
  const nextMessage = (agent: Agent, what: string) => nextSignedMessage<Payload>(sqs, agent, what);

  /** An agent's reply on the bids queue, sealed with its secret as the agent kit seals it (protocol v2). */
  const reply = (agent: Agent, replyTo: string, message: Unsealed<AgentMessage>) =>
    sendSealedAgentMessage(sqs, replyTo, message, agent.secret);

  it("plays issue → bids → award → cost → merge → ledger → history → escrow → audit, then stops clean", async () => {
    const { endpoints } = stack;
    expect(endpoints.in_memory).toBe(true);
    expect(stack.output()).toContain("generated development secrets");

    const cheap = await registerAgent("e2e-cheap");
    const pricey = await registerAgent("e2e-pricey");
    expect(await item("AGENT#e2e-cheap", "PROFILE")).toMatchObject({ status: { S: "active" } });

    // Issue opened → task (intake queue → intake worker).
    const issue: Payload = githubPayload("issues", "opened");
    issue.issue.number = 7001;
    issue.issue.html_url = "https://github.com/Codertocat/Hello-World/issues/7001";
    issue.issue.labels = ["agentforge", "cap:python", "budget:100"].map((name, id) => ({ id, name }));
    const url: string = issue.issue.html_url;
    await webhook("issues", issue);
    const task = await eventually("the TASK item", () => item(`TASK#${url}`, "TASK"));
    expect(task).toMatchObject({ type: { S: "TASK" }, status: { S: "OPEN" } });

    // Table stream → task-stream → dispatch queue → dispatch worker → signed bid requests.
    // Each request is addressed to its agent (the kit refuses anyone else's) and sealed for it.
    const request = await nextMessage(cheap, "cheap's BID_REQUEST");
    expect(request).toMatchObject({
      type: "BID_REQUEST",
      task_id: url,
      agent_id: cheap.id,
      reply_to: endpoints.bids_queue_url,
    });
    expect(await nextMessage(pricey, "pricey's BID_REQUEST")).toMatchObject({
      type: "BID_REQUEST",
      task_id: url,
      agent_id: pricey.id,
    });

    // Signed bids on the bids queue → bid worker → early award and notices.
    await reply(cheap, request.reply_to, {
      type: "BID",
      task_id: url,
      agent_id: cheap.id,
      bid_amount: 40,
      estimated_completion_sec: 3600,
    });
    await reply(pricey, request.reply_to, {
      type: "BID",
      task_id: url,
      agent_id: pricey.id,
      bid_amount: 95,
      estimated_completion_sec: 3600,
    });
    expect(await nextMessage(cheap, "cheap's AWARD")).toMatchObject({
      type: "AWARD",
      task_id: url,
      bid_amount: 40,
    });
    expect(await nextMessage(pricey, "pricey's REJECTION")).toMatchObject({
      type: "REJECTION",
      task_id: url,
    });
    expect(await item(`TASK#${url}`, "AWARD")).toMatchObject({
      agent_id: { S: cheap.id },
      bid_amount: { N: "40" },
      status: { S: "AWARDED" },
    });

    // Cost report → the award carries the actual cost.
    await reply(cheap, request.reply_to, {
      type: "COST_REPORT",
      task_id: url,
      agent_id: cheap.id,
      actual_cost: 31.5,
    });
    await eventually("the reported cost on the AWARD", async () => {
      const award = await item(`TASK#${url}`, "AWARD");
      return award?.actual_cost ? award : undefined;
    });

    // PR merged (closing the issue) and the issue closed → one SUCCESS ledger entry.
    // GitHub's times a little after the award: the ledger entry's completion_time_sec (award → close)
    // must be a valid one (at most ten years), or the outcome is rejected.
    const mergedAt = new Date(Date.now() + 50 * 60_000).toISOString();
    const closedAt = new Date(Date.now() + 60 * 60_000).toISOString();
    const pr: Payload = pullRequestMergedPayload(mergedAt);
    pr.pull_request.body = "Fixes #7001";
    await webhook("pull_request", pr);
    await mergeRecorded(dynamo, endpoints.table_name, url);
    const closed: Payload = issuesClosedPayload("completed", closedAt);
    closed.issue.number = 7001;
    closed.issue.html_url = url;
    await webhook("issues", closed);
    const ledger = await eventually("the ledger entry", async () => {
      const { Items = [] } = await dynamo.send(
        new QueryCommand({
          TableName: endpoints.table_name,
          KeyConditionExpression: "PK = :pk AND begins_with(SK, :ledger)",
          ExpressionAttributeValues: { ":pk": { S: `TASK#${url}` }, ":ledger": { S: "LEDGER#" } },
          ConsistentRead: true,
        }),
      );
      return Items.length > 0 ? Items : undefined;
    });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]).toMatchObject({
      type: { S: "TASK_LEDGER_ENTRY" },
      winning_agent_id: { S: cheap.id },
      bid_amount: { N: "40" },
      actual_cost: { N: "31.5" },
      status: { S: "SUCCESS" },
    });

    // Performance history on the raw profile item.
    const profile = (await item("AGENT#e2e-cheap", "PROFILE")) as Record<string, AttributeValue>;
    expect(profile.performance_history?.M).toMatchObject({
      total_tasks_completed: { N: "1" },
      success_rate: { N: "1" },
      average_cost_per_task: { N: "31.5" },
    });

    // Governance (table stream → projector → PGlite): escrow released, audit chain intact.
    const escrow = await eventually("the released escrow", async () => {
      const { body } = await api("GET", `/escrows?task_id=${encodeURIComponent(url)}`);
      const [first] = (body.items ?? body.escrows ?? []) as Payload[];
      return first?.status === "released" ? first : undefined;
    });
    expect(escrow).toMatchObject({ agent_id: cheap.id, status: "released" });
    const audit = await api("GET", "/audit/verify");
    expect(audit.status).toBe(200);
    expect(audit.body.ok).toBe(true);
    expect(audit.body.rows).toBeGreaterThan(0);

    // Ctrl-C: a clean exit, and nothing of the stack (npm, node, the JVM) left running.
    const { code, signal, leftovers } = await stack.interrupt();
    expect(leftovers).toBe(false);
    expect(signal === "SIGINT" || code === 0).toBe(true);
    // The stack's own process shut down in order (it prints this after its last step).
    expect(stack.output()).toContain("[agentforge] stopped");
  }, 180_000);
});
