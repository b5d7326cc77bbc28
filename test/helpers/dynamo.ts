import { randomUUID } from "node:crypto";
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteTableCommand,
  type DynamoDBClient,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { afterAll, inject } from "vitest";
import { createBidSecretCipher } from "../../src/adapters/crypto/bid-secret-cipher.js";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createDocumentClient, createDynamoClient } from "../../src/adapters/dynamo/client.js";
import type { RetryOptions } from "../../src/adapters/dynamo/dynamo-errors.js";
import {
  createMarketplaceService,
  type MarketplaceService,
} from "../../src/adapters/dynamo/marketplace-service.js";
import { createTableInput } from "../../src/adapters/dynamo/table-definition.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import { createAgentService } from "../../src/domain/agents/agent.service.js";
import { createLedgerService } from "../../src/domain/ledger/ledger.service.js";
import { createTaskService } from "../../src/domain/tasks/task.service.js";
import type { NewAward } from "../../src/domain/tasks/task.types.js";

/**
 * Cleanups of what this file's tests created. Registered with one file-level `afterAll` when the
 * helper is imported: an `afterAll` called later, from inside a `beforeAll` or a test, never runs.
 */
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

export interface TestTable {
  tableName: string;
  endpoint: string;
  /** Plain SDK client, for reading items back without ElectroDB. */
  raw: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  service: MarketplaceService;
}

/**
 * Creates a fresh table (from the single table definition) in the shared DynamoDB Local for the
 * calling test file and drops it after the file. Refuses any endpoint that is not loopback.
 */
export async function useTestTable(): Promise<TestTable> {
  const endpoint = inject("dynamoEndpoint");
  const raw = createDynamoClient({ endpoint, requireLocal: true });
  const doc = createDocumentClient(raw);
  const tableName = `AgentForge-Test-${randomUUID().slice(0, 8)}`;
  await raw.send(new CreateTableCommand(createTableInput(tableName)));
  cleanups.push(async () => {
    await raw.send(new DeleteTableCommand({ TableName: tableName }));
    raw.destroy();
  });
  return {
    tableName,
    endpoint,
    raw,
    doc,
    service: createMarketplaceService({ client: doc, table: tableName }),
  };
}

/**
 * Bid secrets in tests are sealed with the process's in-memory local key, the same one a local-mode
 * container without BID_SECRET_KEY_FILE uses, so what a test seeds the functions under test can open.
 */
export const testBidSecrets = createBidSecretCipher({ local: true });

/** Every item in the test table, read without ElectroDB (a consistent Scan, page by page). */
export async function scanRaw(table: TestTable): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await table.raw.send(
      new ScanCommand({ TableName: table.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
    );
    items.push(...(page.Items ?? []).map((item) => unmarshall(item)));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Domain services wired to a test table, with an optional pinned clock. */
export function servicesFor(table: TestTable, now?: () => Date, retry?: RetryOptions) {
  const agentRepo = createAgentRepository({
    service: table.service,
    secrets: testBidSecrets,
    ...(now ? { now } : {}),
  });
  const taskRepo = createTaskRepository({
    service: table.service,
    ...(now ? { now } : {}),
    ...(retry ? { retry } : {}),
  });
  const bidding = createBiddingRepository({ service: table.service, ...(now ? { now } : {}) });
  return {
    agentRepo,
    taskRepo,
    /**
     * Awards a task directly, as the award service would after closing its bidding (OPEN → CLOSING):
     * for tests of what happens after an award, without running a bidding round.
     */
    award: async (input: NewAward) => {
      await bidding.beginClosing(input.task_id);
      return taskRepo.createAward(input);
    },
    agents: createAgentService({ agents: agentRepo, endpointPolicy: { allowLoopback: true } }),
    ledger: createLedgerService({ tasks: taskRepo }),
    tasks: createTaskService({ tasks: taskRepo }),
  };
}
