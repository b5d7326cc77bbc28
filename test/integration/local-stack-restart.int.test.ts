import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { runDemoStory } from "../../src/demo/story.js";
import { type SpawnedStack, spawnStack, stackApi } from "../helpers/spawned-stack.js";

const api = stackApi;

/**
 * What a restart must keep, read once the governance projector has caught up (the audit row count
 * holds still): the raw profile and ledger items, the task record, the escrow and the audit chain.
 */
async function snapshot(stack: SpawnedStack, taskId: string, agentId: string) {
  let audit: Awaited<ReturnType<typeof stackApi>>["body"];
  for (let previous = -1; ; await new Promise((resolve) => setTimeout(resolve, 1_000))) {
    audit = (await api(stack, "GET", "/audit/verify")).body;
    expect(audit.ok).toBe(true);
    if (audit.rows === previous) break;
    previous = audit.rows;
  }
  const dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb_endpoint, requireLocal: true });
  try {
    const { Item: profile } = await dynamo.send(
      new GetItemCommand({
        TableName: stack.endpoints.table_name,
        Key: { PK: { S: `AGENT#${agentId}` }, SK: { S: "PROFILE" } },
        ConsistentRead: true,
      }),
    );
    const { Items: ledger = [] } = await dynamo.send(
      new QueryCommand({
        TableName: stack.endpoints.table_name,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :ledger)",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${taskId}` }, ":ledger": { S: "LEDGER#" } },
        ConsistentRead: true,
      }),
    );
    const agent = await api(stack, "GET", `/agents/${encodeURIComponent(agentId)}`);
    const task = await api(stack, "GET", `/tasks/${encodeURIComponent(taskId)}`);
    const escrows = await api(stack, "GET", `/escrows?task_id=${encodeURIComponent(taskId)}`);
    expect([agent.status, task.status, escrows.status]).toEqual([200, 200, 200]);
    return { audit, profile, ledger, agent: agent.body, task: task.body, escrows: escrows.body };
  } finally {
    dynamo.destroy();
  }
}

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

  it("finds its agents, tasks, ledger, escrow and audit log intact after a restart", async () => {
    // First life: the demo's whole story (agents, a task, bids, an award, an outcome in the ledger,
    // an escrow released), plus a kill switch, which the projector audits.
    const first = await spawnStack({ dataDir, inMemory: false });
    expect(first.endpoints.in_memory).toBe(false);
    const story = await runDemoStory({ endpoints: first.endpoints, secrets: first.secrets, log: () => {} });
    expect(story.ledger.status).toBe("SUCCESS");
    const killed = await fetch(`${first.endpoints.api_url}/agents/${encodeURIComponent(story.winner)}/kill`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${first.secrets.api_token}`,
        "content-type": "application/json",
      },
      body: JSON.stringify({ reason: "persistence check" }),
    });
    expect(killed.status).toBe(200);
    const before = await snapshot(first, story.taskId, story.winner);
    expect(before.ledger).toHaveLength(story.ledger.entries);
    expect(before.agent.kill_switch_active).toBe(true);
    const stopped = await first.interrupt();
    expect(stopped.leftovers).toBe(false);

    // Second life on the same directory: same secrets, same records, nothing projected twice.
    const second = await spawnStack({ dataDir, inMemory: false });
    try {
      expect(second.output()).toContain("table AgentForge-Marketplace found");
      expect(second.output()).not.toContain("generated development secrets");
      expect(second.secrets).toEqual(first.secrets);
      const after = await snapshot(second, story.taskId, story.winner);
      expect(after).toEqual(before);
    } finally {
      const { leftovers } = await second.interrupt();
      expect(leftovers).toBe(false);
    }
  }, 240_000);
});
