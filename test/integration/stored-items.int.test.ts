import { GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { BID_WINDOW_SHARDS, bidWindowShard } from "../../src/adapters/dynamo/bid-window-shard.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

const fixedNow = () => new Date("2025-07-01T13:00:00.000Z");

describe("stored items keep the documented schema (read back without ElectroDB)", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table, fixedNow);
  });

  it("stores an agent profile at AGENT#<agent_id> / PROFILE with the documented attributes and types", async () => {
    await services.agents.register(
      {
        agent_id: "A-Brain-v4-llama3-local",
        capabilities: ["python", "react", "testing"],
        cost_model: "yellow",
        bidding_endpoint: "https://sqs.eu-west-1.amazonaws.com/123456789012/a-brain-bids",
      },
      TEST_OPERATOR,
    );

    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: "AGENT#A-Brain-v4-llama3-local" }, SK: { S: "PROFILE" } },
      }),
    );

    expect(Item).toBeDefined();
    expect(Item?.type).toEqual({ S: "AGENT_PROFILE" });
    expect(Item?.agent_id).toEqual({ S: "A-Brain-v4-llama3-local" });
    expect(Item?.capabilities?.SS?.sort()).toEqual(["python", "react", "testing"]);
    expect(Item?.cost_model).toEqual({ S: "yellow" });
    expect(Item?.bidding_endpoint).toEqual({
      S: "https://sqs.eu-west-1.amazonaws.com/123456789012/a-brain-bids",
    });
    expect(Item?.status).toEqual({ S: "active" });
    expect(Item?.kill_switch_active).toEqual({ BOOL: false });
    expect(Item?.performance_history).toEqual({
      M: {
        average_cost_per_task: { N: "0" },
        success_rate: { N: "0" },
        average_completion_time_sec: { N: "0" },
        total_tasks_completed: { N: "0" },
      },
    });
  });

  it("keeps key case: A1 and a1 are two agents", async () => {
    await services.agents.register(agentInput({ agent_id: "A1", cost_model: "green" }), TEST_OPERATOR);
    await services.agents.register(agentInput({ agent_id: "a1", cost_model: "orange" }), TEST_OPERATOR);

    const upper = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: "AGENT#A1" }, SK: { S: "PROFILE" } },
      }),
    );
    const lower = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: "AGENT#a1" }, SK: { S: "PROFILE" } },
      }),
    );

    expect(upper.Item?.cost_model).toEqual({ S: "green" });
    expect(lower.Item?.cost_model).toEqual({ S: "orange" });
  });

  it("stores capability edges at AGENT#<id> / CAP#<capability> indexed on GSI1 as CAP#<capability>", async () => {
    await services.agents.register(
      agentInput({ agent_id: "edge-agent", capabilities: ["go", "rust"] }),
      TEST_OPERATOR,
    );

    const edges = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :cap)",
        ExpressionAttributeValues: { ":pk": { S: "AGENT#edge-agent" }, ":cap": { S: "CAP#" } },
      }),
    );
    expect(edges.Items?.map((item) => item.SK?.S)).toEqual(["CAP#go", "CAP#rust"]);

    const byCapability = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: "GSI1",
        KeyConditionExpression: "GSI1PK = :pk",
        ExpressionAttributeValues: { ":pk": { S: "CAP#rust" } },
      }),
    );
    expect(byCapability.Items?.map((item) => item.agent_id?.S)).toEqual(["edge-agent"]);
    expect(byCapability.Items?.[0]?.GSI1SK).toEqual({ S: "AGENT#edge-agent" });
  });

  it("stores a ledger entry at TASK#<issue url> / LEDGER#<ISO timestamp> with the documented attributes", async () => {
    const url = issueUrl(4242);
    await services.agents.register(agentInput({ agent_id: "ledger-agent" }), TEST_OPERATOR);
    await services.tasks.create({
      task_id: url,
      title: "Fix the flaky test",
      required_capabilities: ["python"],
    });

    await services.award({
      task_id: url,
      agent_id: "ledger-agent",
      bid_amount: 12.5,
      status: "AWARDED",
    });
    await services.ledger.recordOutcome({
      task_id: url,
      winning_agent_id: "ledger-agent",
      bid_amount: 12.5,
      actual_cost: 9.75,
      status: "SUCCESS",
      quality_score: 0.875,
      completion_timestamp: "2025-07-01T12:30:00Z",
      completion_time_sec: 5400,
    });

    const { Items } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :ledger)",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${url}` }, ":ledger": { S: "LEDGER#" } },
      }),
    );
    expect(Items).toHaveLength(1);
    const item = Items?.[0];
    expect(item?.SK).toEqual({ S: "LEDGER#2025-07-01T12:30:00.000Z" });
    expect(item?.type).toEqual({ S: "TASK_LEDGER_ENTRY" });
    expect(item?.task_id).toEqual({ S: url });
    expect(item?.winning_agent_id).toEqual({ S: "ledger-agent" });
    expect(item?.bid_amount).toEqual({ N: "12.5" });
    expect(item?.actual_cost).toEqual({ N: "9.75" });
    expect(item?.status).toEqual({ S: "SUCCESS" });
    expect(item?.quality_score).toEqual({ N: "0.875" });
    expect(item?.completion_timestamp).toEqual({ S: "2025-07-01T12:30:00.000Z" });

    const history = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: "GSI2",
        KeyConditionExpression: "GSI2PK = :pk AND begins_with(GSI2SK, :ledger)",
        ExpressionAttributeValues: { ":pk": { S: "AGENT#ledger-agent" }, ":ledger": { S: "LEDGER#" } },
        ScanIndexForward: false,
      }),
    );
    expect(history.Items?.map((i) => i.task_id?.S)).toEqual([url]);

    const profile = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: "AGENT#ledger-agent" }, SK: { S: "PROFILE" } },
      }),
    );
    expect(profile.Item?.performance_history).toEqual({
      M: {
        average_cost_per_task: { N: "9.75" },
        success_rate: { N: "1" },
        average_completion_time_sec: { N: "5400" },
        total_tasks_completed: { N: "1" },
      },
    });
  });

  it("stores a new task's bid window at TASK#<url> / BID_WINDOW, indexed on GSI3 as OPEN_TASK#<shard> / <deadline>#<url>", async () => {
    const url = issueUrl(4444);
    await services.tasks.create({
      task_id: url,
      title: "Window task",
      required_capabilities: ["go"],
      bid_deadline: "2025-07-01T13:05:00Z",
    });
    const shard = bidWindowShard(url);

    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `TASK#${url}` }, SK: { S: "BID_WINDOW" } },
        ConsistentRead: true,
      }),
    );
    const byDeadline = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        IndexName: "GSI3",
        KeyConditionExpression: "GSI3PK = :pk",
        ExpressionAttributeValues: { ":pk": { S: `OPEN_TASK#${shard}` } },
      }),
    );

    expect(shard).toBeGreaterThanOrEqual(0);
    expect(shard).toBeLessThan(BID_WINDOW_SHARDS);
    expect(Item?.type).toEqual({ S: "BID_WINDOW" });
    expect(Item?.task_id).toEqual({ S: url });
    expect(Item?.bid_deadline).toEqual({ S: "2025-07-01T13:05:00.000Z" });
    expect(Item?.shard).toEqual({ N: String(shard) });
    expect(Item?.GSI3PK).toEqual({ S: `OPEN_TASK#${shard}` });
    expect(Item?.GSI3SK).toEqual({ S: `2025-07-01T13:05:00.000Z#${url}` });
    expect(byDeadline.Items?.map((i) => i.task_id?.S)).toContain(url);
  });

  it("returns the whole task with one Query on PK = TASK#<url>", async () => {
    const url = issueUrl(4343);
    await services.tasks.create({ task_id: url, title: "Add retries", required_capabilities: ["go"] });

    const { Items } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${url}` } },
      }),
    );
    expect(Items?.map((i) => [i.SK?.S, i.type?.S, i.status?.S])).toEqual([["TASK", "TASK", "OPEN"]]);
    const record = await services.taskRepo.getTaskRecord(url);
    expect(record?.task.title).toBe("Add retries");
    expect(record?.bids).toEqual([]);
    expect(record?.ledger).toEqual([]);
  });
});
