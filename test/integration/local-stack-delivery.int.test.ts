import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentMessage, Unsealed } from "../../examples/agent/src/protocol.js";
import { createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { githubPayload } from "../fixtures/github.js";
import { sendSealedAgentMessage } from "../helpers/agent-messages.js";
import { type BlackHole, startBlackHole } from "../helpers/black-hole.js";
import {
  eventually,
  nextSignedMessage,
  postWebhook,
  readRawItem,
  type SpawnedStack,
  spawnStack,
  stackApi,
} from "../helpers/spawned-stack.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

const DEAD = 60;
const LIVE = 3;

/**
 * The delivery issue's acceptance test on `npm start --in-memory`, driven only through its HTTP API,
 * its SQS endpoint and raw DynamoDB reads: 60 agents whose HTTPS endpoints accept connections and
 * never answer are sorted (by id) before 3 live SQS agents. The live ones must get their bid
 * requests within 5 s of the task's creation, and the award must follow their bids without waiting
 * for the bid deadline (five minutes): the dead ones count as not answering once their deliveries
 * finally fail.
 */
describe("npm start: dead endpoints cannot starve live agents", () => {
  let dataDir: string;
  let stack: SpawnedStack;
  let blackHole: BlackHole;
  let dynamo: ReturnType<typeof createDynamoClient>;
  let sqs: ReturnType<typeof createSqsClient>;

  beforeAll(async () => {
    blackHole = await startBlackHole();
    dataDir = await mkdtemp(join(tmpdir(), "agentforge-delivery-"));
    stack = await spawnStack({ dataDir, inMemory: true, env: { BID_WINDOW_SECONDS: "300" } });
    dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb_endpoint, requireLocal: true });
    sqs = createSqsClient({ endpoint: stack.endpoints.sqs_endpoint, requireLocal: true });
  }, 150_000);

  afterAll(async () => {
    const stopped = await stack?.interrupt();
    expect(stopped?.leftovers).toBe(false);
    dynamo?.destroy();
    sqs?.destroy();
    await blackHole?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const api = (method: string, path: string, body?: unknown) => stackApi(stack, method, path, body);

  it("the live agents get their requests within 5 s, and the award follows their bids, not the deadline", async () => {
    const capability = "deliverytest";
    for (let i = 0; i < DEAD; i++) {
      const id = `a-dead-${String(i).padStart(2, "0")}`;
      const response = await api("POST", "/agents", {
        agent_id: id,
        capabilities: [capability],
        cost_model: "green",
        bidding_endpoint: `https://127.0.0.1:${blackHole.port}/${id}`,
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
    }
    const live: Array<{ id: string; secret: string; queueUrl: string }> = [];
    for (let i = 0; i < LIVE; i++) {
      const id = `z-live-${i}`;
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `agent-${id}` }));
      const response = await api("POST", "/agents", {
        agent_id: id,
        capabilities: [capability],
        cost_model: "green",
        bidding_endpoint: QueueUrl,
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      live.push({ id, secret: response.body.bid_secret, queueUrl: QueueUrl as string });
    }

    const issue: Payload = githubPayload("issues", "opened");
    issue.issue.number = 8801;
    issue.issue.html_url = "https://github.com/Codertocat/Hello-World/issues/8801";
    issue.issue.labels = ["agentforge", `cap:${capability}`, "budget:100"].map((name, id) => ({ id, name }));
    const url: string = issue.issue.html_url;
    expect((await postWebhook(stack, "issues", issue)).status).toBe(202);
    const task = await eventually(
      "the TASK item",
      () => readRawItem(dynamo, stack.endpoints.table_name, `TASK#${url}`, "TASK"),
      10_000,
      50,
    );
    const createdAt = Date.parse(task.created_at?.S ?? "");

    // Every live agent's request, each timed from the task's creation.
    const requests = await Promise.all(
      live.map(async (agent) => {
        const request = await nextSignedMessage<Payload>(sqs, agent, `${agent.id}'s BID_REQUEST`);
        return { agent, request, latencyMs: Date.now() - createdAt };
      }),
    );
    for (const { request, latencyMs, agent } of requests) {
      expect(request).toMatchObject({ type: "BID_REQUEST", task_id: url, agent_id: agent.id });
      expect(latencyMs, `${agent.id} waited ${latencyMs} ms`).toBeLessThanOrEqual(5000);
    }

    // The live agents bid; the cheapest must win once the dead deliveries have failed.
    const reply = (agent: (typeof live)[number], message: Unsealed<AgentMessage>) =>
      sendSealedAgentMessage(sqs, stack.endpoints.bids_queue_url, message, agent.secret);
    for (const [index, agent] of live.entries()) {
      await reply(agent, {
        type: "BID",
        task_id: url,
        agent_id: agent.id,
        bid_amount: 50 - index * 10,
        estimated_completion_sec: 3600,
      });
    }
    const winner = live[LIVE - 1] as (typeof live)[number];
    const award = await nextSignedMessage<Payload>(sqs, winner, "the winner's AWARD", 60_000);
    expect(award).toMatchObject({ type: "AWARD", task_id: url, agent_id: winner.id });
    const awardItem = await readRawItem(dynamo, stack.endpoints.table_name, `TASK#${url}`, "AWARD");
    const deadline = Date.parse(task.bid_deadline?.S ?? "");
    expect(Date.parse(awardItem?.awarded_at?.S ?? "")).toBeLessThan(deadline - 200_000);
    for (const loser of live.slice(0, LIVE - 1)) {
      expect(await nextSignedMessage<Payload>(sqs, loser, `${loser.id}'s REJECTION`)).toMatchObject({
        type: "REJECTION",
        task_id: url,
      });
    }

    // The dead agents: each delivery FAILED and counted once as not answering (raw reads).
    const counters = await readRawItem(dynamo, stack.endpoints.table_name, `TASK#${url}`, "TASK");
    expect(counters).toMatchObject({
      invited_count: { N: String(DEAD + LIVE) },
      answered_count: { N: String(LIVE) },
      unreachable_count: { N: String(DEAD) },
    });
    const first = await readRawItem(dynamo, stack.endpoints.table_name, `TASK#${url}`, "BID#a-dead-00");
    expect(first).toMatchObject({ delivery_status: { S: "FAILED" }, delivery_attempts: { N: "3" } });
    // And the bid window is gone with the award.
    expect(
      await readRawItem(dynamo, stack.endpoints.table_name, `TASK#${url}`, "BID_WINDOW"),
    ).toBeUndefined();
  }, 120_000);
});
