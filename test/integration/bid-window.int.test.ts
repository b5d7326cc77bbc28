import { BatchWriteItemCommand, GetItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { BID_WINDOW_SHARDS, bidWindowShard } from "../../src/adapters/dynamo/bid-window-shard.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import {
  type ApprovalPolicy,
  type AwardServiceOptions,
  createAwardService,
  DEADLINE_GRACE_MS,
} from "../../src/domain/bidding/award.service.js";
import { ValidationError } from "../../src/domain/errors.js";
import { mapConcurrent } from "../../src/lib/concurrency.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

/**
 * The bid window (`TASK#<url>` / `BID_WINDOW`, GSI3 `OPEN_TASK#<shard>` / `<deadline>#<url>`) on
 * DynamoDB Local: it exists only while its task is OPEN or CLOSING, and the sweeper's read covers
 * every shard. Each test works in its own era of deadlines; the earliest era comes first, so what a
 * test leaves behind is never due for an earlier test's sweep.
 */

const MINUTE = 60_000;

describe("bid windows: sharded in GSI3, removed once the task is decided", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;
  let bidding: BiddingRepository;
  let clock = new Date("2030-01-01T00:00:00.000Z");
  const now = () => clock;
  const agents: Record<"first" | "second", string> = { first: "", second: "" };

  function awardService(overrides: Partial<AwardServiceOptions> = {}) {
    return createAwardService({
      tasks: services.taskRepo,
      bidding,
      agents: services.agentRepo,
      now,
      ...overrides,
    });
  }

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table, now);
    bidding = createBiddingRepository({ service: table.service, now });
    for (const name of ["first", "second"] as const) {
      const input = agentInput({ capabilities: ["python"] });
      await services.agents.register(input, TEST_OPERATOR);
      agents[name] = input.agent_id;
    }
  });

  async function rawItem(taskId: string, sk: string) {
    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `TASK#${taskId}` }, SK: { S: sk } },
        ConsistentRead: true,
      }),
    );
    return Item;
  }

  const window = (taskId: string) => rawItem(taskId, "BID_WINDOW");

  async function newTask(deadline: string, taskId = issueUrl()) {
    await services.taskRepo.createTask({
      task_id: taskId,
      title: "Window task",
      required_capabilities: ["python"],
      bid_deadline: deadline,
    });
    return taskId;
  }

  /** Windows due by `instant` in every shard, read from GSI3 without the repository. */
  async function rawDueWindows(instant: string): Promise<string[]> {
    const ids: string[] = [];
    for (let shard = 0; shard < BID_WINDOW_SHARDS; shard += 1) {
      let start: Record<string, never> | undefined;
      do {
        const page = await table.raw.send(
          new QueryCommand({
            TableName: table.tableName,
            IndexName: "GSI3",
            KeyConditionExpression: "GSI3PK = :pk AND GSI3SK <= :due",
            ExpressionAttributeValues: { ":pk": { S: `OPEN_TASK#${shard}` }, ":due": { S: `${instant}~` } },
            ExclusiveStartKey: start,
          }),
        );
        ids.push(...(page.Items ?? []).map((item) => item.task_id?.S ?? ""));
        start = page.LastEvaluatedKey as Record<string, never> | undefined;
      } while (start);
    }
    return ids;
  }

  /**
   * Writes `count` more held tasks as exact copies of the stored items of `sample`, a task held
   * through the award transaction (only its id and deadline differ), with BatchWriteItem: DynamoDB
   * Local takes ~30 ms per transaction, too slow for a thousand of them in one test.
   */
  async function copyHeldTask(sample: string, copies: Array<{ taskId: string; deadline: string }>) {
    const { Items = [] } = await table.raw.send(
      new QueryCommand({
        TableName: table.tableName,
        KeyConditionExpression: "PK = :pk",
        ExpressionAttributeValues: { ":pk": { S: `TASK#${sample}` } },
        ConsistentRead: true,
      }),
    );
    expect(Items.map((item) => item.SK?.S).sort()).toEqual(["AWARD", "TASK"]);
    const puts = copies.flatMap(({ taskId, deadline }) =>
      Items.map((item) => ({
        PutRequest: {
          Item: {
            ...item,
            PK: { S: `TASK#${taskId}` },
            task_id: { S: taskId },
            ...(item.SK?.S === "TASK" ? { bid_deadline: { S: deadline } } : {}),
          },
        },
      })),
    );
    const batches = Array.from({ length: Math.ceil(puts.length / 25) }, (_, i) =>
      puts.slice(i * 25, i * 25 + 25),
    );
    await mapConcurrent(batches, 4, async (batch) => {
      let requests: typeof batch | undefined = batch;
      while (requests && requests.length > 0) {
        const result = await table.raw.send(
          new BatchWriteItemCommand({ RequestItems: { [table.tableName]: requests } }),
        );
        requests = result.UnprocessedItems?.[table.tableName] as typeof batch | undefined;
      }
    });
  }

  it("1,000 tasks held for approval do not delay a deadline award", async () => {
    // Every held task's deadline is before the late task's: a window left on them would fill the
    // first places of the sweeper's read. 50 (more than a sweep's `maxTasks`) are created and held
    // through the repositories; the other 950 are copies of what those writes stored.
    const heldDeadline = (i: number) =>
      new Date(Date.parse("2030-01-01T00:00:00.000Z") + i * 1000).toISOString();
    const held = Array.from({ length: 1000 }, (_, i) => ({ taskId: issueUrl(), deadline: heldDeadline(i) }));
    const [real, copies] = [held.slice(0, 50), held.slice(50)];
    await mapConcurrent(real, 10, ({ taskId, deadline }) => newTask(deadline, taskId));
    const lateDeadline = "2030-01-01T00:30:00.000Z";
    const late = await newTask(lateDeadline);
    await bidding.invite(late, [agents.first]);
    await bidding.acceptBid(late, agents.first, {
      bid_amount: 7,
      estimated_completion_sec: 600,
      sent_at: "2030-01-01T00:29:00.000Z",
    });
    const sweepAt = new Date(Date.parse(lateDeadline) + DEADLINE_GRACE_MS + MINUTE);
    const firstPageBefore = await services.taskRepo.openTasksDueBy(sweepAt.toISOString(), { limit: 25 });

    await mapConcurrent(real, 10, ({ taskId }) =>
      services.award({
        task_id: taskId,
        agent_id: agents.second,
        bid_amount: 10,
        status: "PENDING_APPROVAL",
      }),
    );
    await copyHeldTask(real[0]?.taskId as string, copies);
    clock = sweepAt;
    const summary = await awardService().sweep(sweepAt, { maxTasks: 25 });

    expect(firstPageBefore.items).toHaveLength(25);
    expect(firstPageBefore.items.map((t) => t.task_id)).not.toContain(late);
    expect(summary).toMatchObject({ examined: 1, awarded: 1, failed: 0, more: false });
    expect((await rawItem(late, "TASK"))?.status).toEqual({ S: "AWARDED" });
    const award = await rawItem(late, "AWARD");
    expect(award?.agent_id).toEqual({ S: agents.first });
    expect(award?.status).toEqual({ S: "AWARDED" });
    expect(await window(late)).toBeUndefined();
    for (const { taskId } of [held[0], held[49], held[50], held[999]] as Array<{ taskId: string }>) {
      expect((await rawItem(taskId, "TASK"))?.status).toEqual({ S: "PENDING_APPROVAL" });
      expect((await rawItem(taskId, "AWARD"))?.status).toEqual({ S: "PENDING_APPROVAL" });
      expect(await window(taskId)).toBeUndefined();
    }
    expect(await rawDueWindows(sweepAt.toISOString())).toEqual([]);
  });

  it("the window is gone after AWARDED, PENDING_APPROVAL and NO_BIDS, and back after a rejected approval", async () => {
    clock = new Date("2031-01-01T00:00:00.000Z");
    const deadline = "2031-01-01T00:05:00.000Z";
    const [awarded, pending, noBids] = [
      await newTask(deadline),
      await newTask(deadline),
      await newTask(deadline),
    ];
    const before = await Promise.all([awarded, pending, noBids].map(window));
    const pendingWindow = before[1];

    await services.award({ task_id: awarded, agent_id: agents.first, bid_amount: 5, status: "AWARDED" });
    await services.award({
      task_id: pending,
      agent_id: agents.first,
      bid_amount: 5,
      status: "PENDING_APPROVAL",
    });
    await bidding.beginClosing(noBids);
    const closed = await bidding.closeWithoutBids(noBids);
    const closedAgain = await bidding.closeWithoutBids(noBids);

    expect(before.every((item) => item?.type?.S === "BID_WINDOW")).toBe(true);
    expect([closed, closedAgain]).toEqual([true, false]);
    expect((await rawItem(awarded, "TASK"))?.status).toEqual({ S: "AWARDED" });
    expect((await rawItem(pending, "TASK"))?.status).toEqual({ S: "PENDING_APPROVAL" });
    expect((await rawItem(noBids, "TASK"))?.status).toEqual({ S: "NO_BIDS" });
    for (const taskId of [awarded, pending, noBids]) expect(await window(taskId)).toBeUndefined();

    expect(await services.taskRepo.rejectPendingAward(pending, agents.first)).toBe("REJECTED");
    const restored = await window(pending);
    expect((await rawItem(pending, "TASK"))?.status).toEqual({ S: "CLOSING" });
    expect(restored?.GSI3PK).toEqual({ S: `OPEN_TASK#${bidWindowShard(pending)}` });
    expect(restored?.GSI3SK).toEqual({ S: `${deadline}#${pending}` });
    expect(restored).toEqual(pendingWindow);
    expect(await services.taskRepo.rejectPendingAward(pending, agents.first)).toBe("ALREADY");

    expect(await bidding.closeWithoutBids(pending)).toBe(true);
    expect(await window(pending)).toBeUndefined();
  });

  it("a rejected approval's window is due at once: the sweeper awards the next-best bid", async () => {
    clock = new Date("2032-01-01T00:00:00.000Z");
    const deadline = "2032-01-01T00:05:00.000Z";
    const taskId = await newTask(deadline);
    await bidding.invite(taskId, [agents.first, agents.second]);
    await bidding.acceptBid(taskId, agents.first, {
      bid_amount: 5,
      estimated_completion_sec: 600,
      sent_at: clock.toISOString(),
    });
    await bidding.acceptBid(taskId, agents.second, {
      bid_amount: 9,
      estimated_completion_sec: 600,
      sent_at: clock.toISOString(),
    });
    const holdFirst: ApprovalPolicy = {
      decide: ({ bid }) => (bid.agent_id === agents.first ? "PENDING_APPROVAL" : "AWARDED"),
    };
    const awards = awardService({ approval: holdFirst });
    clock = new Date(Date.parse(deadline) + DEADLINE_GRACE_MS);
    const held = await awards.evaluate(taskId);
    const windowWhileHeld = await window(taskId);

    // The reviewer rejects, and the inline re-award never runs (say the API call died right after).
    await services.taskRepo.rejectPendingAward(taskId, agents.first);
    clock = new Date(clock.getTime() + MINUTE);
    const windowAfterReject = await window(taskId);
    const summary = await awards.sweep(clock);

    expect(held).toMatchObject({
      kind: "AWARDED",
      award: { status: "PENDING_APPROVAL", agent_id: agents.first },
    });
    expect(windowWhileHeld).toBeUndefined();
    expect(windowAfterReject?.bid_deadline).toEqual({ S: deadline });
    expect(summary).toMatchObject({ examined: 1, awarded: 1, failed: 0 });
    const award = await rawItem(taskId, "AWARD");
    expect(award?.agent_id).toEqual({ S: agents.second });
    expect(award?.status).toEqual({ S: "AWARDED" });
    expect((await rawItem(taskId, "TASK"))?.status).toEqual({ S: "AWARDED" });
    expect(await window(taskId)).toBeUndefined();
  });

  it("pages over every shard earliest first, each window exactly once, whatever the page size", async () => {
    const start = Date.parse("2040-01-01T00:00:00.000Z");
    // Deadlines in reverse creation order and some equal, so order comes from the keys alone.
    const tasks = Array.from({ length: 60 }, (_, i) => ({
      taskId: issueUrl(),
      deadline: new Date(start + Math.floor((60 - i) / 2) * 1000).toISOString(),
    }));
    await mapConcurrent(tasks, 20, ({ taskId, deadline }) => newTask(deadline, taskId));
    const ours = new Set(tasks.map((t) => t.taskId));
    const expected = [...tasks]
      .sort((a, b) => (`${a.deadline}#${a.taskId}` < `${b.deadline}#${b.taskId}` ? -1 : 1))
      .map((t) => t.taskId);
    const instant = new Date(start + MINUTE).toISOString();

    for (const limit of [1, 7, 25, 100]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await services.taskRepo.openTasksDueBy(instant, {
          limit,
          ...(cursor ? { cursor } : {}),
        });
        expect(page.items.length).toBeLessThanOrEqual(limit);
        seen.push(...page.items.map((t) => t.task_id));
        cursor = page.cursor;
        pages += 1;
      } while (cursor && pages < 200);
      expect(
        seen.filter((id) => ours.has(id)),
        `limit ${limit}`,
      ).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
    }
    expect(new Set(tasks.map((t) => bidWindowShard(t.taskId))).size).toBe(BID_WINDOW_SHARDS);
    // Nothing due before the earliest deadline, and a deadline equal to the instant is due.
    const earliest = tasks.at(-1) as { taskId: string; deadline: string };
    const atEarliest = await services.taskRepo.openTasksDueBy(earliest.deadline, { limit: 100 });
    expect(
      atEarliest.items
        .map((t) => t.task_id)
        .filter((id) => ours.has(id))
        .sort(),
    ).toEqual(
      tasks
        .filter((t) => t.deadline === earliest.deadline)
        .map((t) => t.taskId)
        .sort(),
    );
  });

  it("refuses a cursor it did not issue, and a cursor past the instant reads nothing", async () => {
    const instant = "2039-01-01T00:00:00.000Z";
    const later = await newTask("2039-01-01T00:10:00.000Z");
    await newTask("2039-01-01T00:20:00.000Z");
    const page = await services.taskRepo.openTasksDueBy("2039-01-01T00:30:00.000Z", { limit: 1 });
    const encode = (key: unknown) => Buffer.from(JSON.stringify(key)).toString("base64url");

    await expect(services.taskRepo.openTasksDueBy(instant, { cursor: "not a cursor!" })).rejects.toThrow(
      ValidationError,
    );
    await expect(
      services.taskRepo.openTasksDueBy(instant, {
        cursor: encode({ PK: "AGENT#a", SK: "LEDGER#x", GSI2PK: "AGENT#a", GSI2SK: "LEDGER#x" }),
      }),
    ).rejects.toThrow(ValidationError);
    expect(page.cursor).toBeDefined();
    // The page's cursor is after a deadline later than `instant`: nothing due by `instant` follows it.
    expect(page.items.map((t) => t.task_id)).toContain(later);
    expect(
      await services.taskRepo.openTasksDueBy(instant, {
        limit: 1,
        ...(page.cursor ? { cursor: page.cursor } : {}),
      }),
    ).toEqual({ items: [] });
  });
});
