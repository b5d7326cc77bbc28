import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DynamoDBRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { createPostgresGovernanceStore } from "../../src/adapters/postgres/governance.store.js";
import { migrate } from "../../src/adapters/postgres/migrations.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import { createPgliteClient } from "../../src/adapters/postgres/pglite.client.js";
import { type AwardService, createAwardService } from "../../src/domain/bidding/award.service.js";
import { createApprovalPolicy } from "../../src/domain/governance/approval-policy.js";
import type { AuditEntry } from "../../src/domain/governance/governance.types.js";
import { escrowIdFor } from "../../src/domain/governance/ids.js";
import { createGovernanceProjector } from "../../src/domain/governance/projector.js";
import {
  compareSequenceNumbers,
  createDynamoStreamSource,
  type DynamoStreamSource,
  type StreamSourceLogger,
} from "../../src/local/dynamodb-stream-source.js";
import { createObservability } from "../../src/observability.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { createGovernanceStreamHandler } from "../../src/workers/governance-stream.js";
import { runBiddingRound } from "../helpers/bidding-round.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { type NoticeRelay, useNoticeRelay } from "../helpers/notice-relay.js";
import { dropSchema, randomSchemaName, TEST_AUDIT_KEY } from "../helpers/postgres.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { drainQueue, type TestQueue, useTestQueue } from "../helpers/sqs.js";
import { startTcpProxy } from "../helpers/tcp-proxy.js";

/**
 * The outage drill the governance design promises: while Postgres is down, stream processing
 * retries (and holds its place), nothing is lost, and bidding and the ledger carry on in DynamoDB;
 * once Postgres is back every event arrives exactly once, in order.
 *
 * All parts are real: DynamoDB Local and its stream (read by the local event source mapping), the
 * SQS emulator (agents' queues), the governance stream handler and projector, and Postgres — a
 * PGlite persisted to disk that is really shut down and reopened, and, when DATABASE_URL is set, the
 * PostgreSQL server behind a TCP proxy that is cut and restored. Polls are driven explicitly and
 * retries do not sleep, so the run is deterministic.
 */

/** A Postgres that can go away and come back while the rest of the stack keeps running. */
interface OutageBackend {
  /** The store the projector and the assertions use, across the outage. */
  store: GovernanceStore;
  /** What a call fails with while Postgres is down. */
  downError: RegExp;
  /** Makes Postgres unavailable. */
  stop(): Promise<void>;
  /** Brings it back. */
  restart(): Promise<void>;
  /**
   * Counts rows without going through the outage (only where the database itself keeps running
   * while it is unreachable): proves nothing was written during it.
   */
  countBehindOutage?(): Promise<{ audit: number; applied: number }>;
  dispose(): Promise<void>;
}

/**
 * A {@link GovernanceStore} that forwards every call to a target that can be swapped: the projector
 * keeps one store reference for its life, as a Lambda keeps its module-level store, while the test
 * shuts the database down and opens a new one on the same files.
 */
function forwardingStore(initial: GovernanceStore) {
  let target = initial;
  const store: GovernanceStore = {
    transaction: (fn, scope) => target.transaction(fn, scope),
    forAgent: (agentId) => target.forAgent(agentId),
    applyOnce: (eventKey, fn) => target.applyOnce(eventKey, fn),
    verifyAudit: (options) => target.verifyAudit(options),
    auditHead: () => target.auditHead(),
    auditRowAt: (seq) => target.auditRowAt(seq),
    listAudit: (options) => target.listAudit(options),
    listApprovals: (status, page) => target.listApprovals(status, page),
    listEscrows: (filter, page) => target.listEscrows(filter, page),
    listExpiredEscrows: (createdBefore, limit) => target.listExpiredEscrows(createdBefore, limit),
    listProbeTargets: (page) => target.listProbeTargets(page),
    wasApplied: (eventKey) => target.wasApplied(eventKey),
    ping: () => target.ping(),
    close: () => target.close(),
  };
  return {
    store,
    retarget(next: GovernanceStore) {
      target = next;
    },
  };
}

/**
 * PGlite persisted to a temporary directory. "Stop" closes it: the database is shut down and every
 * later call on it fails at once with "PGlite is closed" (it does not hang), which is what the
 * forwarder's target stays on during the outage. "Restart" opens a new PGlite on the same files.
 */
async function pgliteBackend(): Promise<OutageBackend> {
  const dataDir = await mkdtemp(join(tmpdir(), "agentforge-outage-"));
  const open = async () => {
    const client = await createPgliteClient({ dataDir });
    await migrate(client);
    return createPostgresGovernanceStore({ client, auditKey: TEST_AUDIT_KEY, verifyPageSize: 7 });
  };
  let current = await open();
  const forward = forwardingStore(current);
  return {
    store: forward.store,
    downError: /PGlite is closed/,
    async stop() {
      await current.close();
    },
    async restart() {
      current = await open();
      forward.retarget(current);
    },
    async dispose() {
      try {
        await current.close();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The PostgreSQL server at `databaseUrl`, reached through a TCP proxy in a fresh schema. The server
 * keeps running; the outage is the network: the proxy stops listening and cuts every open
 * connection (new ones are refused), then listens again on the same port.
 */
async function pgServerBackend(databaseUrl: string): Promise<OutageBackend> {
  const target = new URL(databaseUrl);
  const proxy = await startTcpProxy({
    target: { host: target.hostname, port: Number(target.port || 5432) },
  });
  const schema = randomSchemaName();
  const client = createPgClient({
    connectionString: proxy.rewrite(databaseUrl),
    schema,
    connectionTimeoutMs: 1000,
  });
  await migrate(client);
  const store = createPostgresGovernanceStore({ client, auditKey: TEST_AUDIT_KEY, verifyPageSize: 7 });
  return {
    store,
    // An idle pooled connection that was cut fails with "terminated"; new ones are refused.
    downError: /ECONNREFUSED|Connection terminated|timeout/,
    stop: () => proxy.close(),
    restart: () => proxy.reopen(),
    async countBehindOutage() {
      const direct = createPgClient({ connectionString: databaseUrl, schema, max: 1 });
      try {
        const [row] = await direct.query<{ audit: number; applied: number }>(
          `SELECT (SELECT count(*) FROM audit_logs)::int AS audit,
                  (SELECT count(*) FROM projected_events)::int AS applied`,
        );
        return row as { audit: number; applied: number };
      } finally {
        await direct.close();
      }
    },
    async dispose() {
      try {
        await store.close();
        await proxy.dispose();
      } finally {
        await dropSchema(databaseUrl, schema);
      }
    },
  };
}

const silentSourceLogger: StreamSourceLogger = { info() {}, warn() {}, error() {} };

type AgentName = "ann" | "bob" | "cat" | "dan";

function outageScenario(label: string, openBackend: () => Promise<OutageBackend>) {
  describe(`governance through a Postgres outage (${label})`, () => {
    let table: TestTable;
    let services: ReturnType<typeof servicesFor>;
    let bidding: BiddingRepository;
    let awards: AwardService;
    /** The notice path the table stream's relay drives (notify, then the delivery worker). */
    let notices: NoticeRelay;
    let backend: OutageBackend;
    let store: GovernanceStore;
    let stream: DynamoStreamSource;
    let replay: DynamoStreamSource | undefined;
    const clock = new Date("2031-05-01T09:00:00.000Z");
    const now = () => clock;
    const agents = {} as Record<AgentName, { id: string; queue: TestQueue }>;
    /** Records handed to onFailure: each one was refused, so the source kept its place. */
    const refused: DynamoDBRecord[] = [];
    const rounds: Record<"first" | "second", { taskId: string; winner: AgentName; bids: AgentName[] }> =
      {} as never;
    const outcomeKeys: string[] = [];
    let phase1AuditRows = 0;

    const governance = (governanceStore: GovernanceStore) =>
      createGovernanceStreamHandler({
        projector: createGovernanceProjector({ store: governanceStore, agents: services.agentRepo, now }),
        ...createObservability({ logLevel: "SILENT", metricsSink: () => {} }),
      });

    /** Agents' queues, created up front: `useTestQueue` registers its cleanup, which only hooks may do. */
    const queues = {} as Record<AgentName, TestQueue>;

    async function register(name: AgentName) {
      const queue = queues[name];
      const input = agentInput({
        capabilities: ["python"],
        bidding_endpoint: queue.queueUrl,
        wallet_address: `wallet-${name}`,
      });
      await services.agents.register(input, TEST_OPERATOR);
      agents[name] = { id: input.agent_id, queue };
      expect(await services.agentRepo.getProfile(input.agent_id)).toMatchObject({ version: 1 });
    }

    /** A task every invited agent bids on, so it is awarded at once to the cheapest bid. */
    async function biddingRound(bids: Partial<Record<AgentName, number>>) {
      const entries = Object.entries(bids) as Array<[AgentName, number]>;
      const { taskId, outcome } = await runBiddingRound(
        { tasks: services.taskRepo, bidding, awards },
        entries.map(([name, amount]) => [agents[name].id, amount] as const),
        { title: "outage", sentAt: clock },
      );
      const [winner] = [...entries].sort((a, b) => a[1] - b[1])[0] as [AgentName, number];
      expect(outcome).toMatchObject({
        kind: "AWARDED",
        award: { agent_id: agents[winner].id, status: "AWARDED" },
      });
      return { taskId, winner, bids: entries.map(([name]) => name) };
    }

    async function recordOutcome(
      round: { taskId: string; winner: AgentName },
      status: "SUCCESS" | "FAILURE",
      completedAt: string,
    ) {
      const result = await services.ledger.recordOutcome({
        task_id: round.taskId,
        winning_agent_id: agents[round.winner].id,
        bid_amount: 100,
        actual_cost: 90,
        status,
        quality_score: status === "SUCCESS" ? 0.9 : 0.1,
        completion_timestamp: completedAt,
      });
      expect(result.recorded).toBe(true);
      outcomeKeys.push(`ledger:${round.taskId}#${result.entry.completion_timestamp}`);
    }

    const allAudit = async (): Promise<AuditEntry[]> => {
      const rows = await store.listAudit({ limit: 1000 });
      expect(rows.length).toBeLessThan(1000);
      return rows;
    };

    const checkpoint = () => stream.stats().shards[0]?.checkpoint;

    /** One poll while Postgres is down: it fails on the blocked record and keeps it. */
    async function pollWhileDown() {
      const before = stream.stats();
      const refusedBefore = refused.length;
      await stream.pollOnce();
      const after = stream.stats();
      expect(after.failedInvocations).toBeGreaterThan(before.failedInvocations);
      expect(refused).toHaveLength(refusedBefore + 1);
      expect(after.givenUp).toBe(0);
    }

    beforeAll(async () => {
      // The delivery worker's EMF metrics (test/helpers/delivery.ts) would print to stdout.
      vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
      table = await useTestTable();
      services = servicesFor(table, now);
      bidding = createBiddingRepository({ service: table.service, now });
      backend = await openBackend();
      store = backend.store;
      const bidsQueue = await useTestQueue("outage-bids");
      for (const name of ["ann", "bob", "cat", "dan"] as const) {
        queues[name] = await useTestQueue(`outage-${name}`);
      }
      awards = createAwardService({
        tasks: services.taskRepo,
        bidding,
        agents: services.agentRepo,
        approval: createApprovalPolicy({ threshold: 1000 }),
        now,
      });
      notices = useNoticeRelay(await useTestQueue("outage-delivery"), table.service, {
        agents: services.agentRepo,
        bidding,
        tasks: services.taskRepo,
        sender: createSqsEndpointSender({ client: bidsQueue.client }),
        bidsQueueUrl: bidsQueue.queueUrl,
      });
      // The event source mapping of the deployed stack, with retries that never give a record up:
      // onFailure refuses, so the shard resumes from the failing record at the next poll.
      stream = createDynamoStreamSource({
        endpoint: table.endpoint,
        tableName: table.tableName,
        handler: governance(store),
        maxRetryAttempts: 2,
        retryDelayMs: { base: 1, max: 2 },
        sleep: async () => {},
        logger: silentSourceLogger,
        onFailure: async ({ record }) => {
          refused.push(record);
          throw new Error("Postgres is down: keep the record for the next poll");
        },
      });
    });

    afterAll(async () => {
      await stream?.stop();
      await replay?.stop();
      await backend?.dispose();
    });

    it("phase 1, Postgres up: registrations and an award are projected", async () => {
      await register("ann");
      await register("bob");
      await register("cat");
      rounds.first = await biddingRound({ ann: 100, bob: 150 });
      expect(await stream.drain()).toBeGreaterThan(0);
      expect(refused).toHaveLength(0);

      const [escrow] = (await store.listEscrows({ taskId: rounds.first.taskId })).items;
      expect(escrow).toMatchObject({
        id: escrowIdFor(rounds.first.taskId, agents.ann.id),
        agent_id: agents.ann.id,
        status: "pending",
        amount: "100.000000",
        worker_wallet: "wallet-ann",
      });
      const audit = await allAudit();
      const actions = audit.filter((row) => row.action !== "trust_tier_changed").map((row) => row.action);
      expect(actions.sort()).toEqual(
        [
          ...Array(3).fill("agent_registered"),
          "bid_accepted",
          "bid_accepted",
          "award_made",
          "escrow_created",
        ].sort(),
      );
      phase1AuditRows = audit.length;
    });

    it("phase 2, Postgres down: bidding and the ledger carry on; the stream retries and holds its place", async () => {
      const passed = checkpoint();
      expect(passed).toBeDefined();
      await backend.stop();
      await expect(store.ping()).rejects.toThrow(backend.downError);

      // Every marketplace write below is a DynamoDB write that must succeed without Postgres.
      await register("dan");
      await pollWhileDown();
      // The first poll may pass records governance ignores (capability edges); then it stays put.
      const held = checkpoint() as string;

      const killed = await services.agentRepo.setKillSwitch(agents.cat.id, true, {
        actor: "api:ops",
        reason: "x",
      });
      expect(killed).toMatchObject({ kill_switch_active: true, version: 2 });
      await pollWhileDown();

      await drainQueue(agents.bob.queue.client, agents.bob.queue.queueUrl);
      rounds.second = await biddingRound({ bob: 200, dan: 250 });
      // The stream's relay of the award (notify, then the delivery worker) needs no Postgres either.
      await notices.relay(rounds.second.taskId);
      const sent = await drainQueue(agents.bob.queue.client, agents.bob.queue.queueUrl);
      expect(sent.map((message) => JSON.parse(message.Body ?? "{}").type)).toEqual(["AWARD"]);
      expect(
        (await drainQueue(agents.dan.queue.client, agents.dan.queue.queueUrl)).map(
          (message) => JSON.parse(message.Body ?? "{}").type,
        ),
      ).toEqual(["REJECTION"]);
      await pollWhileDown();

      await recordOutcome(rounds.first, "SUCCESS", "2031-05-01T10:00:00.000Z");
      await recordOutcome(rounds.second, "FAILURE", "2031-05-01T11:00:00.000Z");
      expect((await services.agentRepo.getProfile(agents.ann.id))?.performance_totals).toMatchObject({
        outcomes: 1,
        successes: 1,
      });
      await pollWhileDown();

      // Every poll refused the same record, the first governance fact of the outage (dan's
      // registration), and the checkpoint never passed it: nothing behind it was applied first.
      const blocked = new Set(refused.map((record) => record.dynamodb?.SequenceNumber));
      expect(blocked.size).toBe(1);
      const [blockedSeq] = [...blocked] as [string];
      expect(refused[0]?.dynamodb?.NewImage).toMatchObject({
        type: { S: "AGENT_PROFILE" },
        agent_id: { S: agents.dan.id },
      });
      expect(checkpoint()).toBe(held);
      expect(compareSequenceNumbers(held, blockedSeq)).toBeLessThan(0);
      expect(compareSequenceNumbers(held, passed as string)).toBeGreaterThanOrEqual(0);
      expect(stream.stats()).toMatchObject({ givenUp: 0 });
      await expect(store.ping()).rejects.toThrow(backend.downError);
      // Where the database itself kept running, look past the outage: nothing reached it.
      if (backend.countBehindOutage) {
        expect((await backend.countBehindOutage()).audit).toBe(phase1AuditRows);
      }
    });

    it("phase 3, Postgres back: every event arrives exactly once, in order", async () => {
      await backend.restart();
      // Nothing of the outage reached Postgres before the stream delivered it.
      expect(await allAudit()).toHaveLength(phase1AuditRows);
      expect(await store.wasApplied(`agent:${agents.dan.id}:v1`)).toBe(false);

      const refusedBefore = refused.length;
      expect(await stream.drain()).toBeGreaterThan(0);
      expect(refused).toHaveLength(refusedBefore);
      expect(stream.stats()).toMatchObject({ givenUp: 0 });

      // Every event key of the run was applied: every profile version, bid, award and outcome.
      const keys: string[] = [...outcomeKeys];
      for (const name of Object.keys(agents) as AgentName[]) {
        const profile = await services.agentRepo.getProfile(agents[name].id);
        for (let version = 1; version <= (profile?.version ?? 0); version++) {
          keys.push(`agent:${agents[name].id}:v${version}`);
        }
      }
      expect(keys).toEqual(
        expect.arrayContaining([
          `agent:${agents.ann.id}:v2`, // the SUCCESS outcome's totals
          `agent:${agents.bob.id}:v2`, // the FAILURE outcome's totals
          `agent:${agents.cat.id}:v2`, // the kill switch
          `agent:${agents.dan.id}:v1`,
        ]),
      );
      for (const round of Object.values(rounds)) {
        keys.push(`award:${round.taskId}#${agents[round.winner].id}#AWARDED`);
        for (const name of round.bids) {
          keys.push(`bid:${round.taskId}#${agents[name].id}#${clock.toISOString()}`);
        }
      }
      const missing: string[] = [];
      for (const key of keys) if (!(await store.wasApplied(key))) missing.push(key);
      expect(missing).toEqual([]);

      // Exactly one audit row per fact, and nothing else (trust tier changes aside).
      const { first, second } = rounds;
      const ann = agents.ann.id;
      const bob = agents.bob.id;
      const annEscrow = `escrow:${escrowIdFor(first.taskId, ann)}`;
      const bobEscrow = `escrow:${escrowIdFor(second.taskId, bob)}`;
      const audit = await allAudit();
      const facts = audit
        .filter((row) => row.action !== "trust_tier_changed")
        .map((row) => `${row.action} ${row.agent_id} ${row.resource}`);
      expect(facts.sort()).toEqual(
        [
          ...(Object.keys(agents) as AgentName[]).map(
            (name) => `agent_registered ${agents[name].id} agent:${agents[name].id}`,
          ),
          `kill_switch_on ${agents.cat.id} agent:${agents.cat.id}`,
          `bid_accepted ${ann} ${first.taskId}`,
          `bid_accepted ${bob} ${first.taskId}`,
          `bid_accepted ${bob} ${second.taskId}`,
          `bid_accepted ${agents.dan.id} ${second.taskId}`,
          `award_made ${ann} ${first.taskId}`,
          `award_made ${bob} ${second.taskId}`,
          `escrow_created ${ann} ${annEscrow}`,
          `escrow_created ${bob} ${bobEscrow}`,
          `ledger_outcome ${ann} ${first.taskId}`,
          `ledger_outcome ${bob} ${second.taskId}`,
          `escrow_released ${ann} ${annEscrow}`,
          `escrow_disputed ${bob} ${bobEscrow}`,
        ].sort(),
      );
      // Ordering held: no outcome overtook its award (that would log escrow_missing, asserted absent
      // above), and each escrow was created before it moved.
      const seqOf = (action: string, resource: string) =>
        audit.find((row) => row.action === action && row.resource === resource)?.seq ?? Number.NaN;
      expect(seqOf("award_made", second.taskId)).toBeLessThan(seqOf("ledger_outcome", second.taskId));
      expect(seqOf("escrow_created", annEscrow)).toBeLessThan(seqOf("escrow_released", annEscrow));
      expect(seqOf("escrow_created", bobEscrow)).toBeLessThan(seqOf("escrow_disputed", bobEscrow));
      expect(audit.find((row) => row.action === "kill_switch_on")).toMatchObject({
        actor: "api:ops",
        details: { reason: "x" },
      });

      expect((await store.listEscrows({ taskId: first.taskId })).items).toEqual([
        expect.objectContaining({
          agent_id: ann,
          status: "released",
          resolved_by: "api",
          amount: "100.000000",
        }),
      ]);
      expect((await store.listEscrows({ taskId: first.taskId })).items[0]?.settled_at).not.toBeNull();
      expect((await store.listEscrows({ taskId: second.taskId })).items).toEqual([
        expect.objectContaining({ agent_id: bob, status: "disputed", amount: "200.000000" }),
      ]);
      const trust = await store.transaction(async (tx) => ({
        ann: await tx.agents.get(ann),
        bob: await tx.agents.get(bob),
        cat: await tx.agents.get(agents.cat.id),
        dan: await tx.agents.get(agents.dan.id),
      }));
      expect(trust.ann).toMatchObject({ outcomes: 1, successes: 1, profile_version: 2 });
      expect(trust.bob).toMatchObject({ outcomes: 1, successes: 0, profile_version: 2 });
      expect(trust.cat).toMatchObject({ kill_switch_active: true, profile_version: 2 });
      expect(trust.dan).toMatchObject({ kill_switch_active: false, profile_version: 1 });
      expect(await store.verifyAudit({ full: true })).toEqual({
        ok: true,
        rows: audit.length,
        verified_through: audit.length,
        complete: true,
      });
    });

    it("re-delivering the whole stream afterwards applies nothing twice", async () => {
      const before = await allAudit();
      const escrowsBefore = await store.listEscrows({}, { limit: 100 });
      replay = createDynamoStreamSource({
        endpoint: table.endpoint,
        tableName: table.tableName,
        handler: governance(store),
        startingPosition: "TRIM_HORIZON",
        sleep: async () => {},
        logger: silentSourceLogger,
      });
      expect(await replay.drain()).toBeGreaterThan(20);
      expect(replay.stats()).toMatchObject({ failedInvocations: 0, givenUp: 0 });
      expect(await allAudit()).toEqual(before);
      expect(escrowsBefore.cursor).toBeUndefined();
      expect(await store.listEscrows({}, { limit: 100 })).toEqual(escrowsBefore);
      expect(await store.verifyAudit({ full: true })).toEqual({
        ok: true,
        rows: before.length,
        verified_through: before.length,
        complete: true,
      });
    });
  });
}

outageScenario("PGlite, shut down and reopened", pgliteBackend);

// The PostgreSQL server made unreachable, when one is configured (CI sets DATABASE_URL).
describe.skipIf(!process.env.DATABASE_URL)("with DATABASE_URL", () => {
  outageScenario("PostgreSQL server behind a cut TCP proxy", () =>
    pgServerBackend(process.env.DATABASE_URL as string),
  );
});
