process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { CreateTableCommand } = await import("@aws-sdk/client-dynamodb");
const { startDynamoDbLocal } = await import("../src/local/dynamodb-local.js");
const { createDocumentClient, createDynamoClient } = await import("../src/adapters/dynamo/client.js");
const { createMarketplaceService } = await import("../src/adapters/dynamo/marketplace-service.js");
const { createTableInput } = await import("../src/adapters/dynamo/table-definition.js");
const { createAgentRepository } = await import("../src/adapters/dynamo/agent.repository.js");
const { createTaskRepository } = await import("../src/adapters/dynamo/task.repository.js");
const { createAgentService } = await import("../src/domain/agents/agent.service.js");
const { createLedgerService } = await import("../src/domain/ledger/ledger.service.js");
const { createTaskService } = await import("../src/domain/tasks/task.service.js");
const local = await startDynamoDbLocal();
console.log(local.pid);
try {
  const raw = createDynamoClient({ endpoint: local.endpoint, requireLocal: true });
  raw.middlewareStack.add((next, context) => async (args: any) => {
    args.input.ReturnConsumedCapacity = "INDEXES";
    try {
      const r: any = await next(args);
      console.log(context.commandName, JSON.stringify(args.input).slice(0, 300), "=>", JSON.stringify(r.output.ConsumedCapacity), r.output.Count, r.output.ScannedCount);
      return r;
    } catch (e: any) { console.log(context.commandName, "ERR", e.name); throw e; }
  }, { step: "initialize", name: "probe" });
  const doc = createDocumentClient(raw);
  await raw.send(new CreateTableCommand(createTableInput("t")));
  const service = createMarketplaceService({ client: doc, table: "t" });
  const agentRepo = createAgentRepository({ service });
  const taskRepo = createTaskRepository({ service });
  const agents = createAgentService({ agents: agentRepo, endpointPolicy: { allowLocalQueues: true } });
  const ledger = createLedgerService({ tasks: taskRepo });
  const tasks = createTaskService({ tasks: taskRepo });
  await agents.register({ agent_id: "a1", capabilities: ["python", "go", "sql"], cost_model: "green", bidding_endpoint: "https://example.com/bid" });
  await agents.get("a1");
  await agents.register({ agent_id: "a1", capabilities: ["python", "rust"], cost_model: "green", bidding_endpoint: "https://example.com/bid" });
  await agents.setKillSwitch("a1", true);
  await agents.setKillSwitch("a1", false);
  await agents.findByCapability("python", { limit: 25 });
  await tasks.create({ task_id: "https://github.com/o/r/issues/1", title: "x", required_capabilities: ["python"], bid_deadline: "2025-01-01T00:00:00Z" });
  await ledger.recordOutcome({ task_id: "https://github.com/o/r/issues/1", winning_agent_id: "a1", bid_amount: 1, actual_cost: 1, status: "SUCCESS", quality_score: 0.5, completion_timestamp: "2025-01-02T00:00:00Z" });
  await tasks.get("https://github.com/o/r/issues/1");
  await ledger.agentHistory("a1", { limit: 25 });
  await taskRepo.openTasksDueBy("2026-01-01T00:00:00Z");
  console.log(JSON.stringify(service.entities.capabilityEdge.put({ agent_id: "b", capability: "python", capabilities: ["python"], cost_model: "green", bidding_endpoint: "https://e.com", endpoint_kind: "https", listed: true }).params()));
  raw.destroy();
} finally { await local.stop(); }
