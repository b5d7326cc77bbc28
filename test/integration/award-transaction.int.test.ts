import { beforeAll, describe, expect, it } from "vitest";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { ConflictError } from "../../src/domain/errors.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

describe("the award transaction", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table);
  });

  async function taskWithBid() {
    const agent = agentInput();
    await services.agents.register(agent, TEST_OPERATOR);
    const url = issueUrl();
    await services.tasks.create({
      task_id: url,
      title: "t",
      required_capabilities: ["python"],
      bid_deadline: "2099-01-01T00:00:00Z",
    });
    const bidding = createBiddingRepository({ service: table.service });
    await bidding.invite(url, [agent.agent_id]);
    await bidding.acceptBid(url, agent.agent_id, {
      bid_amount: 50,
      estimated_completion_sec: 60,
      sent_at: "2030-01-01T00:00:01.000Z",
    });
    return { url, agentId: agent.agent_id, bidding };
  }

  it("refuses to award a bid that is not the one ranked, writing nothing", async () => {
    const { url, agentId, bidding } = await taskWithBid();
    await bidding.acceptBid(url, agentId, {
      bid_amount: 70,
      estimated_completion_sec: 60,
      sent_at: "2030-01-01T00:00:02.000Z",
    });
    await bidding.beginClosing(url);

    const stale = services.taskRepo.createAward({
      task_id: url,
      agent_id: agentId,
      bid_amount: 50,
      status: "AWARDED",
      bid_sent_at: "2030-01-01T00:00:01.000Z",
    });

    await expect(stale).rejects.toThrow(ConflictError);
    await expect(stale).rejects.toMatchObject({ details: { reason: "BID_CHANGED" } });
    const record = await services.tasks.get(url);
    expect(record.task.status).toBe("CLOSING");
    expect(record.award).toBeUndefined();
  });

  it("awards exactly once when runs race, and never from a task that left OPEN", async () => {
    const { url, agentId, bidding } = await taskWithBid();
    await bidding.beginClosing(url);
    const award = () =>
      services.taskRepo.createAward({
        task_id: url,
        agent_id: agentId,
        bid_amount: 50,
        status: "AWARDED",
        bid_sent_at: "2030-01-01T00:00:01.000Z",
      });

    const results = await Promise.allSettled([award(), award(), award(), award()]);

    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(
      results.filter((r) => r.status === "rejected").every((r) => r.reason instanceof ConflictError),
    ).toBe(true);
    expect((await services.tasks.get(url)).award).toMatchObject({ agent_id: agentId, bid_amount: 50 });
  });

  it("once closing, the task takes no more bids, and a kill-switched winner cannot be awarded", async () => {
    const { url, agentId, bidding } = await taskWithBid();
    await bidding.beginClosing(url);

    const late = bidding.acceptBid(url, agentId, {
      bid_amount: 10,
      estimated_completion_sec: 60,
      sent_at: "2030-01-01T00:00:03.000Z",
    });
    await expect(late).rejects.toMatchObject({ details: { reason: "BIDDING_CLOSED" } });
    await services.agents.setKillSwitch(agentId, true, TEST_OPERATOR);
    const award = services.taskRepo.createAward({
      task_id: url,
      agent_id: agentId,
      bid_amount: 50,
      status: "AWARDED",
      bid_sent_at: "2030-01-01T00:00:01.000Z",
    });

    await expect(award).rejects.toMatchObject({ details: { reason: "BID_CHANGED" } });
    expect((await services.tasks.get(url)).award).toBeUndefined();
  });
});
