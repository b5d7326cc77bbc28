import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { createBidSecretCipher } from "../src/adapters/crypto/bid-secret-cipher.js";
import { createAgentRepository } from "../src/adapters/dynamo/agent.repository.js";
import { createBiddingRepository } from "../src/adapters/dynamo/bidding.repository.js";
import { createDocumentClient, createDynamoClient } from "../src/adapters/dynamo/client.js";
import { createMarketplaceService } from "../src/adapters/dynamo/marketplace-service.js";
import { createTableInput } from "../src/adapters/dynamo/table-definition.js";
import { createTaskRepository } from "../src/adapters/dynamo/task.repository.js";
import { createAgentService } from "../src/domain/agents/agent.service.js";
import { createLedgerService } from "../src/domain/ledger/ledger.service.js";
import { createTaskService } from "../src/domain/tasks/task.service.js";
import { CallRecorder } from "./capture.js";

/**
 * The bench's table on a running DynamoDB Local, and the real repositories and services over it:
 * shared by the full bench (bench/main.ts) and the sections that run alone (bench/bid-pipeline.ts).
 * Every request the repositories send goes through `doc`, whose client `recorder` records; `side`
 * and `sideDoc` are a second, unrecorded client for sizing items and bulk seeding.
 */
export async function openBenchTable(endpoint: string, tableName = "AgentForge-Bench") {
  const recorder = new CallRecorder();
  const raw = createDynamoClient({ endpoint, requireLocal: true });
  recorder.install(raw);
  const doc = createDocumentClient(raw);
  const side = createDynamoClient({ endpoint, requireLocal: true });
  const sideDoc = createDocumentClient(side);
  await side.send(new CreateTableCommand(createTableInput(tableName)));
  const service = createMarketplaceService({ client: doc, table: tableName });
  const taskRepo = createTaskRepository({ service });
  const biddingRepo = createBiddingRepository({ service });
  const agentRepo = createAgentRepository({ service, secrets: createBidSecretCipher({ local: true }) });
  const agents = createAgentService({ agents: agentRepo, endpointPolicy: { allowLoopback: true } });
  return {
    recorder,
    doc,
    side,
    sideDoc,
    tableName,
    service,
    taskRepo,
    biddingRepo,
    agentRepo,
    agents,
    ledger: createLedgerService({ tasks: taskRepo }),
    tasks: createTaskService({ tasks: taskRepo }),
    destroy(): void {
      raw.destroy();
      side.destroy();
    },
  };
}

export type BenchTable = Awaited<ReturnType<typeof openBenchTable>>;
