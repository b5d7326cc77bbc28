import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { githubDelivery, githubPayload } from "../fixtures/github.js";
import { type SpawnedStack, spawnStack } from "../helpers/spawned-stack.js";

// biome-ignore lint/suspicious/noExplicitAny: tests edit deep fields of real GitHub payloads freely.
type Payload = any;

async function eventually<T>(
  what: string,
  read: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const api = async (stack: SpawnedStack, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${stack.endpoints.api_url}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.secrets.api_token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Payload };
};

/**
 * A persistent stack (the default data directory layout) stopped with Ctrl-C and started again on
 * the same directory keeps its agents, tasks and ledger (DynamoDB Local's file), its governance
 * records (PGlite) and its secrets; the stream consumers resume from their checkpoints instead of
 * applying anything twice.
 */
describe("npm start on a data directory, restarted", () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "agentforge-restart-"));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("finds its agents, tasks, ledger and audit log intact after a restart", async () => {
    const url = "https://github.com/Codertocat/Hello-World/issues/7100";
    const ledgerKey = { pk: `TASK#${url}`, sk: "LEDGER#2031-02-03T04:05:06.000Z" };

    // First life: an agent, a task from a webhook, and a ledger entry (a labelled outcome).
    const first = await spawnStack({ dataDir, inMemory: false });
    expect(first.endpoints.in_memory).toBe(false);
    const registered = await api(first, "POST", "/agents", {
      agent_id: "restart-agent",
      capabilities: ["go"],
      cost_model: "yellow",
      bidding_endpoint: "https://agent.example.com/bids",
    });
    expect(registered.status).toBe(201);
    const issue: Payload = githubPayload("issues", "opened");
    issue.issue.number = 7100;
    issue.issue.html_url = url;
    issue.issue.labels = ["agentforge", "cap:go"].map((name, id) => ({ id, name }));
    const delivery = githubDelivery({
      event: "issues",
      payload: issue,
      secret: first.secrets.github_webhook_secret,
    });
    const accepted = await fetch(`${first.endpoints.api_url}/webhooks/github`, {
      method: "POST",
      headers: delivery.event.headers as Record<string, string>,
      body: delivery.rawBody,
    });
    expect(accepted.status).toBe(202);
    const task = await eventually("the task", async () => {
      const response = await api(first, "GET", `/tasks/${encodeURIComponent(url)}`);
      return response.status === 200 ? response.body : undefined;
    });
    expect(task.task).toMatchObject({ task_id: url, status: "OPEN" });
    // The kill switch writes an audit row through the stream projector into PGlite.
    const killed = await fetch(`${first.endpoints.api_url}/agents/restart-agent/kill`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${first.secrets.api_token}`,
        "content-type": "application/json",
        "x-agentforge-actor": "restart-test",
      },
      body: JSON.stringify({ reason: "persistence check" }),
    });
    expect(killed.status).toBe(200);
    // Registration and kill switch each leave an audit row once the projector has caught up.
    const auditBefore = await eventually("the registration and kill switch audit rows", async () => {
      const { body } = await api(first, "GET", "/audit/verify");
      return body.ok && body.rows >= 2 ? body : undefined;
    });
    const firstDynamo = createDynamoClient({
      endpoint: first.endpoints.dynamodb_endpoint,
      requireLocal: true,
    });
    const tableName = first.endpoints.table_name;
    const readLedger = async (client: ReturnType<typeof createDynamoClient>) =>
      (
        await client.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: "PK = :pk AND begins_with(SK, :ledger)",
            ExpressionAttributeValues: { ":pk": { S: ledgerKey.pk }, ":ledger": { S: "LEDGER#" } },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [];
    const ledgerBefore = await readLedger(firstDynamo);
    firstDynamo.destroy();
    const stopped = await first.interrupt();
    expect(stopped.leftovers).toBe(false);

    // Second life on the same directory.
    const second = await spawnStack({ dataDir, inMemory: false });
    try {
      expect(second.output()).not.toContain("generated development secrets");
      expect(second.secrets).toEqual(first.secrets);
      const agent = await api(second, "GET", "/agents/restart-agent");
      expect(agent.status).toBe(200);
      expect(agent.body).toMatchObject({ agent_id: "restart-agent", kill_switch_active: true });
      const again = await api(second, "GET", `/tasks/${encodeURIComponent(url)}`);
      expect(again.status).toBe(200);
      expect(again.body.task).toEqual(task.task);

      const dynamo = createDynamoClient({ endpoint: second.endpoints.dynamodb_endpoint, requireLocal: true });
      try {
        const { Item } = await dynamo.send(
          new GetItemCommand({
            TableName: tableName,
            Key: { PK: { S: "AGENT#restart-agent" }, SK: { S: "PROFILE" } },
            ConsistentRead: true,
          }),
        );
        expect(Item).toMatchObject({ capabilities: { SS: ["go"] }, cost_model: { S: "yellow" } });
        expect(await readLedger(dynamo)).toEqual(ledgerBefore);
      } finally {
        dynamo.destroy();
      }

      // Same audit rows, still verifying, and the projector did not apply the old records again.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      const auditAfter = await api(second, "GET", "/audit/verify");
      expect(auditAfter.body).toEqual(auditBefore);
    } finally {
      const { leftovers } = await second.interrupt();
      expect(leftovers).toBe(false);
    }
  }, 240_000);
});
