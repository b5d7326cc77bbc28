import { GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { NotFoundError, ValidationError } from "../../src/domain/errors.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

describe("agent repository on DynamoDB Local", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table);
  });

  async function listedIds(capability: string): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await services.agents.findByCapability(capability, {
        limit: 100,
        ...(cursor ? { cursor } : {}),
      });
      ids.push(...page.items.map((a) => a.agent_id));
      cursor = page.cursor;
    } while (cursor);
    return ids;
  }

  async function edgeKeys(agentId: string): Promise<string[]> {
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :cap)",
        ExpressionAttributeValues: { ":pk": { S: `AGENT#${agentId}` }, ":cap": { S: "CAP#" } },
      }),
    );
    return Items.map((item) => item.SK?.S ?? "");
  }

  it("registers an agent and reads the profile back", async () => {
    const input = agentInput({ capabilities: ["testing", "python", "python"] });

    const { profile, created } = await services.agents.register(input, TEST_OPERATOR);
    const read = await services.agents.get(input.agent_id);

    expect(created).toBe(true);
    expect(read).toEqual(profile);
    expect(read.capabilities).toEqual(["python", "testing"]);
    expect(read.endpoint_kind).toBe("sqs");
    expect(read.version).toBe(1);
  });

  it("updating an agent rewrites its capability edges in the same transaction, removing dropped ones", async () => {
    const input = agentInput({ capabilities: ["python", "react", "sql"] });
    await services.agents.register(input, TEST_OPERATOR);

    const { created, profile } = await services.agents.register(
      {
        ...input,
        capabilities: ["python", "typescript"],
      },
      TEST_OPERATOR,
    );

    expect(created).toBe(false);
    expect(profile.version).toBe(2);
    expect(await edgeKeys(input.agent_id)).toEqual(["CAP#python", "CAP#typescript"]);
    expect(await listedIds("react")).not.toContain(input.agent_id);
    expect(await listedIds("sql")).not.toContain(input.agent_id);
    expect(await listedIds("typescript")).toContain(input.agent_id);
  });

  it("finds agents by capability through GSI1, paginated", async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `pager-${String(i).padStart(2, "0")}`);
    for (const agent_id of ids)
      await services.agents.register(agentInput({ agent_id, capabilities: ["cobol"] }), TEST_OPERATOR);

    const first = await services.agents.findByCapability("cobol", { limit: 3 });
    const all = await listedIds("cobol");

    expect(first.items.map((a) => a.agent_id)).toEqual(ids.slice(0, 3));
    expect(first.cursor).toBeTypeOf("string");
    expect(all).toEqual(ids);
    expect(first.items[0]).toMatchObject({
      capabilities: ["cobol"],
      cost_model: "green",
      endpoint_kind: "sqs",
    });
  });

  it("killing an agent drops it from every capability query at once, and reviving restores it", async () => {
    const input = agentInput({ capabilities: ["haskell", "elm"] });
    await services.agents.register(input, TEST_OPERATOR);
    expect(await listedIds("haskell")).toContain(input.agent_id);

    const killed = await services.agents.setKillSwitch(input.agent_id, true, TEST_OPERATOR);

    expect(killed.kill_switch_active).toBe(true);
    expect(await listedIds("haskell")).not.toContain(input.agent_id);
    expect(await listedIds("elm")).not.toContain(input.agent_id);
    expect(await edgeKeys(input.agent_id)).toEqual(["CAP#elm", "CAP#haskell"]);

    await services.agents.setKillSwitch(input.agent_id, false, TEST_OPERATOR);
    expect(await listedIds("haskell")).toContain(input.agent_id);
  });

  it("a re-registration keeps the kill switch engaged", async () => {
    const input = agentInput({ capabilities: ["perl"] });
    await services.agents.register(input, TEST_OPERATOR);
    await services.agents.setKillSwitch(input.agent_id, true, TEST_OPERATOR);

    const { profile } = await services.agents.register({ ...input, cost_model: "orange" }, TEST_OPERATOR);

    expect(profile.kill_switch_active).toBe(true);
    expect(await listedIds("perl")).not.toContain(input.agent_id);
  });

  it("a suspended agent is not listed for any capability", async () => {
    const input = agentInput({ capabilities: ["fortran"] });
    await services.agents.register(input, TEST_OPERATOR);

    await services.agents.register({ ...input, status: "suspended" }, TEST_OPERATOR);

    expect(await listedIds("fortran")).not.toContain(input.agent_id);
  });

  it("an update that omits status keeps a suspended agent suspended", async () => {
    const input = agentInput({ capabilities: ["ada"] });
    await services.agents.register({ ...input, status: "suspended" }, TEST_OPERATOR);

    const { profile } = await services.agents.register({ ...input, cost_model: "yellow" }, TEST_OPERATOR);

    expect(profile.status).toBe("suspended");
    expect(await listedIds("ada")).not.toContain(input.agent_id);
  });

  it("concurrent updates of one agent leave the edges equal to the profile's capabilities", async () => {
    const input = agentInput({ capabilities: ["c"] });
    await services.agents.register(input, TEST_OPERATOR);
    const variants = [["c", "zig"], ["c", "nim"], ["d"], ["zig", "nim", "d"], ["c"]];

    await Promise.all(
      variants.map((capabilities) => services.agents.register({ ...input, capabilities }, TEST_OPERATOR)),
    );
    const profile = await services.agents.get(input.agent_id);

    expect(profile.version).toBe(1 + variants.length);
    expect(await edgeKeys(input.agent_id)).toEqual(profile.capabilities.map((c) => `CAP#${c}`));
  });

  it("rejects invalid registrations with a ValidationError naming the field", async () => {
    await expect(
      services.agents.register(agentInput({ cost_model: "purple" }), TEST_OPERATOR),
    ).rejects.toThrow(ValidationError);
    await expect(services.agents.register(agentInput({ capabilities: [] }), TEST_OPERATOR)).rejects.toThrow(
      /capabilities/,
    );
    await expect(
      services.agents.register(agentInput({ agent_id: "AGENT#evil" }), TEST_OPERATOR),
    ).rejects.toThrow(/agent_id/);
  });

  it("unknown agents are NotFoundError, and a forged cursor is a ValidationError", async () => {
    await expect(services.agents.get("nobody-here")).rejects.toThrow(NotFoundError);
    await expect(services.agents.setKillSwitch("nobody-here", true, TEST_OPERATOR)).rejects.toThrow(
      NotFoundError,
    );
    await expect(services.agents.findByCapability("python", { cursor: "not a cursor!" })).rejects.toThrow(
      ValidationError,
    );
    const forged = Buffer.from(JSON.stringify({ PK: "TASK#x", SK: "nope" })).toString("base64url");
    await expect(services.agents.findByCapability("python", { cursor: forged })).rejects.toThrow(
      ValidationError,
    );
  });

  it("keeps exact listed counts per capability through registration, updates, suspension and the kill switch", async () => {
    const [a, b, c] = [
      agentInput({ capabilities: ["zz-count", "zz-other"] }),
      agentInput({ capabilities: ["zz-count"] }),
      agentInput({ capabilities: ["zz-count"] }),
    ];
    for (const input of [a, b, c]) await services.agents.register(input, TEST_OPERATOR);
    await services.agents.setKillSwitch(b.agent_id, true, TEST_OPERATOR);
    await services.agents.register({ ...c, status: "suspended" }, TEST_OPERATOR);
    await services.agents.register({ ...a, capabilities: ["zz-other"] }, TEST_OPERATOR);
    await Promise.all([1, 2, 3].map(() => services.agents.setKillSwitch(b.agent_id, false, TEST_OPERATOR)));

    const counts = await services.agentRepo.listedCounts(["zz-count", "zz-other", "zz-none"]);

    expect(Object.fromEntries(counts)).toEqual({ "zz-count": 1, "zz-other": 1, "zz-none": 0 });
    expect(await listedIds("zz-count")).toEqual([b.agent_id]);
    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: "CAP#zz-count" }, SK: { S: "STATS" } },
      }),
    );
    expect(Item).toMatchObject({ type: { S: "CAPABILITY_STATS" }, listed_count: { N: "1" } });
  });

  it("returns the bid-signing secret once, on creation, keeps it off the profile, and rotates it", async () => {
    const input = agentInput();

    const created = await services.agents.register(input, TEST_OPERATOR);
    const updated = await services.agents.register({ ...input, cost_model: "orange" }, TEST_OPERATOR);
    const rotated = await services.agents.rotateSecret(input.agent_id, TEST_OPERATOR);

    expect(created.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(updated).not.toHaveProperty("secret");
    expect(JSON.stringify(await services.agents.get(input.agent_id))).not.toContain(created.secret);
    expect(rotated.secret).not.toBe(created.secret);
    expect(await services.agentRepo.getSecret(input.agent_id)).toBe(rotated.secret);
    await expect(services.agents.rotateSecret("nobody-at-all", TEST_OPERATOR)).rejects.toThrow(NotFoundError);
  });
});
