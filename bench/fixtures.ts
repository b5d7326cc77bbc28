import { setTimeout as sleep } from "node:timers/promises";
import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { MarketplaceService } from "../src/adapters/dynamo/marketplace-service.js";
import { agentRegistrationSchema } from "../src/domain/agents/agent.schema.js";
import { deriveHistory, ZERO_TOTALS } from "../src/domain/agents/performance.js";
import { forEachConcurrent } from "../src/lib/concurrency.js";
import { backoffDelay } from "../src/lib/retry.js";
import { itemSize } from "./capacity.js";

export const CAPABILITY_POOL = [
  "python",
  "typescript",
  "go",
  "rust",
  "java",
  "sql",
  "react",
  "testing",
  "docs",
  "devops",
] as const;

/** Small deterministic PRNG (mulberry32) so every run seeds the same population. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `k` distinct capabilities from the pool, optionally always including `must`. */
export function capabilityMix(random: () => number, k: number, must?: string): string[] {
  const picked = new Set<string>(must ? [must] : []);
  while (picked.size < Math.min(k, CAPABILITY_POOL.length)) {
    picked.add(CAPABILITY_POOL[Math.floor(random() * CAPABILITY_POOL.length)] as string);
  }
  return [...picked];
}

/** A registration as a client would send it (the service validates and normalises it). */
export function registration(agentId: string, capabilities: string[], costModel = "green") {
  return {
    agent_id: agentId,
    capabilities,
    cost_model: costModel,
    bidding_endpoint: `https://sqs.us-east-1.amazonaws.com/123456789012/${agentId}-bids`,
  };
}

export function outcome(taskId: string, agentId: string, completionTimestamp: string, n = 0) {
  return {
    task_id: taskId,
    winning_agent_id: agentId,
    bid_amount: 10 + (n % 7),
    actual_cost: 8.25 + (n % 5) / 100,
    status: n % 5 === 0 ? "FAILURE" : "SUCCESS",
    quality_score: 0.9,
    completion_timestamp: completionTimestamp,
    completion_time_sec: 600 + n,
  };
}

export const issueUrl = (n: number) => `https://github.com/octo-org/octo-repo/issues/${n}`;

export type Key = { PK: string; SK: string };
export const keys = {
  profile: (agentId: string): Key => ({ PK: `AGENT#${agentId}`, SK: "PROFILE" }),
  edge: (agentId: string, capability: string): Key => ({ PK: `AGENT#${agentId}`, SK: `CAP#${capability}` }),
  task: (url: string): Key => ({ PK: `TASK#${url}`, SK: "TASK" }),
  bidWindow: (url: string): Key => ({ PK: `TASK#${url}`, SK: "BID_WINDOW" }),
  ledger: (url: string, at: string): Key => ({ PK: `TASK#${url}`, SK: `LEDGER#${at}` }),
};

/**
 * Reads stored items back raw, with a client the recorder does not see, to size them exactly as
 * DynamoDB stores them (key attributes and ElectroDB's `__edb_*` identifiers included).
 */
export class ItemSizer {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async item(key: Key): Promise<Record<string, AttributeValue> | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { PK: { S: key.PK }, SK: { S: key.SK } },
        ConsistentRead: true,
      }),
    );
    return Item;
  }

  async size(key: Key): Promise<number> {
    return itemSize(await this.item(key));
  }

  async sizes(keyList: Key[]): Promise<number[]> {
    return Promise.all(keyList.map((k) => this.size(k)));
  }

  /** Sizes of every item under one partition key, in key order. */
  async partition(pk: string): Promise<number[]> {
    const sizes: number[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "PK = :pk",
          ExpressionAttributeValues: { ":pk": { S: pk } },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      sizes.push(...(page.Items ?? []).map(itemSize));
      start = page.LastEvaluatedKey;
    } while (start);
    return sizes;
  }

  /** Number of entries under one GSI partition (Select COUNT; reporting only). */
  async countIndexPartition(index: string, pkName: string, pk: string): Promise<number> {
    let count = 0;
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: index,
          KeyConditionExpression: "#pk = :pk",
          ExpressionAttributeNames: { "#pk": pkName },
          ExpressionAttributeValues: { ":pk": { S: pk } },
          Select: "COUNT",
          ExclusiveStartKey: start,
        }),
      );
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
    return count;
  }
}

/**
 * The exact items `saveRegistration` writes for a new agent (profile + one edge per capability),
 * produced by the same ElectroDB entities and the same domain validation, for BatchWriteItem
 * seeding. Only the write path differs: no pre-read, no transaction, no condition.
 */
export function registrationItems(
  service: MarketplaceService,
  input: ReturnType<typeof registration>,
  timestamp: string,
): Array<Record<string, unknown>> {
  const reg = agentRegistrationSchema({ allowLoopback: true }).parse(input);
  const { agentProfile, capabilityEdge } = service.entities;
  const common = {
    agent_id: reg.agent_id,
    capabilities: reg.capabilities,
    cost_model: reg.cost_model,
    bidding_endpoint: reg.bidding_endpoint,
    endpoint_kind: reg.endpoint_kind,
  };
  const profile = agentProfile
    .put({
      ...common,
      status: reg.status ?? "active",
      kill_switch_active: false,
      performance_totals: { ...ZERO_TOTALS },
      performance_history: deriveHistory(ZERO_TOTALS),
      version: 1,
      // As the service stamps a registration by the bench's operator.
      updated_by: "operator:bench",
      ...(reg.wallet_address ? { wallet_address: reg.wallet_address } : {}),
      created_at: timestamp,
      updated_at: timestamp,
    })
    .params<{ Item: Record<string, unknown> }>().Item;
  const edges = reg.capabilities.map(
    (capability) =>
      capabilityEdge
        .put({ ...common, capability, listed: (reg.status ?? "active") === "active" })
        .params<{ Item: Record<string, unknown> }>().Item,
  );
  return [profile, ...edges];
}

/** Writes items with BatchWriteItem (25 per request), resending unprocessed items. */
export async function batchPut(
  doc: DynamoDBDocumentClient,
  table: string,
  items: Array<Record<string, unknown>>,
  concurrency: number,
): Promise<{ requests: number }> {
  const chunks: Array<Array<Record<string, unknown>>> = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  let requests = 0;
  await forEachConcurrent(chunks, concurrency, async (chunk) => {
    let pending: Record<string, unknown>[] | undefined = chunk.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0)
        await sleep(backoffDelay(attempt + 1, { baseDelayMs: 5, maxDelayMs: 200, jitter: "none" }));
      requests += 1;
      const { UnprocessedItems }: { UnprocessedItems?: Record<string, Record<string, unknown>[]> } =
        await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = UnprocessedItems?.[table];
    }
  });
  return { requests };
}
