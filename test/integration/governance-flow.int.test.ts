import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createNonceRepository } from "../../src/adapters/dynamo/nonce.repository.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { type AwardService, createAwardService } from "../../src/domain/bidding/award.service.js";
import { createBidService } from "../../src/domain/bidding/bid.service.js";
import { createApprovalService } from "../../src/domain/governance/approval.service.js";
import { createApprovalPolicy } from "../../src/domain/governance/approval-policy.js";
import { createEscrowService } from "../../src/domain/governance/escrow.service.js";
import { escrowIdFor } from "../../src/domain/governance/ids.js";
import { createGovernanceProjector } from "../../src/domain/governance/projector.js";
import { createRestApi } from "../../src/http/rest-api.js";
import { createDynamoStreamSource, type DynamoStreamSource } from "../../src/local/dynamodb-stream-source.js";
import { createObservability } from "../../src/observability.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { createGovernanceStreamHandler } from "../../src/workers/governance-stream.js";
import { sealedAgentMessage } from "../helpers/agent-messages.js";
import { runBiddingRound } from "../helpers/bidding-round.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { apiGet, apiPost, asOperator, bodyOf, TEST_API_TOKEN, testAuthenticator } from "../helpers/http.js";
import { type NoticeRelay, useNoticeRelay } from "../helpers/notice-relay.js";
import { openPgliteTestStore, openPgTestStore, type TestGovernanceStore } from "../helpers/postgres.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { drainQueue, type TestQueue, useTestQueue } from "../helpers/sqs.js";

/**
 * Governance end to end on real parts: DynamoDB Local (marketplace writes and its stream, read by the
 * local stream source exactly as Lambda's event source mapping would deliver it), the SQS emulator
 * (agents' queues), and Postgres — PGlite always, the server too when DATABASE_URL is set. Every
 * governance fact asserted here reached Postgres through the stream, not through a direct call.
 * Notices to agents take the marketplace's outbox path: the award service sends nothing, and the
 * tests run what the table stream's relay would (`notify`, then the delivery worker) with `relay`.
 */

const THRESHOLD = 1000;

function governanceFlow(label: string, open: () => Promise<TestGovernanceStore>) {
  describe(`governance over the table stream (${label})`, () => {
    let table: TestTable;
    let services: ReturnType<typeof servicesFor>;
    let bidding: BiddingRepository;
    let gov: TestGovernanceStore;
    let store: GovernanceStore;
    let awards: AwardService;
    let stream: DynamoStreamSource;
    let api: ReturnType<typeof createRestApi>;
    let bidsQueue: TestQueue;
    let notices: NoticeRelay;
    const clock = new Date("2031-03-01T10:00:00.000Z");
    const now = () => clock;
    const agents: Record<
      "cheap" | "steady" | "pricey",
      { id: string; queue: TestQueue; secret: string; apiKey: string }
    > = {} as never;

    /** Delivers every pending stream record to the projector. */
    const project = () => stream.drain();

    /**
     * What the table stream's relay does once a task is decided (its award AWARDED, or NO_BIDS): plans
     * the notices it owes onto the delivery queue, and the delivery worker sends them.
     */
    const relay = (taskId: string) => notices.relay(taskId);

    async function register(name: keyof typeof agents) {
      const queue = await useTestQueue(`gov-${name}`);
      const input = agentInput({
        capabilities: ["python"],
        bidding_endpoint: queue.queueUrl,
        wallet_address: `wallet-${name}`,
      });
      const { secret, apiKey } = await services.agents.register(input, TEST_OPERATOR);
      agents[name] = { id: input.agent_id, queue, secret: secret as string, apiKey: apiKey as string };
    }

    /** A task with bids from `bids` (agent → amount); every invited agent answers, so it awards at once. */
    async function biddingRound(bids: Partial<Record<keyof typeof agents, number>>) {
      const entries = Object.entries(bids) as Array<[keyof typeof agents, number]>;
      return runBiddingRound(
        { tasks: services.taskRepo, bidding, awards },
        entries.map(([name, amount]) => [agents[name].id, amount] as const),
        { title: "governed", sentAt: clock },
      );
    }

    /** An OPEN task with one invited agent, no bids yet. */
    async function invitedTask(title: string, agentId: string): Promise<string> {
      const taskId = issueUrl();
      await services.taskRepo.createTask({ task_id: taskId, title, required_capabilities: ["python"] });
      await bidding.invite(taskId, [agentId]);
      return taskId;
    }

    /** The bid worker's service over this table, on the test clock. */
    const bidService = () =>
      createBidService({
        agents: services.agentRepo,
        bidding,
        nonces: createNonceRepository({ service: table.service }),
        awards,
        now,
      });

    async function escrowOf(taskId: string, agentId: string) {
      return store.transaction((tx) => tx.escrows.get(escrowIdFor(taskId, agentId)));
    }

    beforeAll(async () => {
      // The delivery worker's EMF metrics (test/helpers/delivery.ts) would print to stdout.
      vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
      table = await useTestTable();
      services = servicesFor(table, now);
      bidding = createBiddingRepository({ service: table.service, now });
      gov = await open();
      store = gov.store;
      bidsQueue = await useTestQueue("gov-bids");
      const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
      awards = createAwardService({
        tasks: services.taskRepo,
        bidding,
        agents: services.agentRepo,
        approval: createApprovalPolicy({ threshold: THRESHOLD }),
        now,
      });
      notices = useNoticeRelay(await useTestQueue("gov-delivery"), table.service, {
        agents: services.agentRepo,
        bidding,
        tasks: services.taskRepo,
        sender: createSqsEndpointSender({ client: bidsQueue.client }),
        bidsQueueUrl: bidsQueue.queueUrl,
      });
      const projector = createGovernanceProjector({ store, agents: services.agentRepo, now });
      stream = createDynamoStreamSource({
        endpoint: table.endpoint,
        tableName: table.tableName,
        handler: createGovernanceStreamHandler({ projector, logger, metrics }),
        sleep: async () => {},
        retryDelayMs: { base: 1, max: 5 },
      });
      const approvals = createApprovalService({ store, tasks: services.taskRepo, awards, now });
      const escrows = createEscrowService({ store, now, timeoutMs: 24 * 3600_000 });
      api = createRestApi({
        ...services,
        authenticate: testAuthenticator(services.agentRepo),
        logger,
        governance: async () => ({ approvals, escrows, verifyAudit: () => store.verifyAudit() }),
      });
      await register("cheap");
      await register("steady");
      await register("pricey");
    });

    afterAll(async () => {
      await stream?.stop();
      await gov?.dispose();
    });

    it("projects registrations, scores trust and writes it back onto the profile", async () => {
      await project();
      const trust = await store.transaction((tx) => tx.agents.get(agents.cheap.id));
      expect(trust).toMatchObject({ trust_score: 59, audit_level: "Silver", kill_switch_active: false });
      const profile = await services.agentRepo.getProfile(agents.cheap.id);
      expect(profile).toMatchObject({ trust_score: 59, audit_level: "Silver" });
      const audit = await store.listAudit({ agentId: agents.cheap.id });
      expect(audit.map((row) => row.action)).toEqual(["agent_registered"]);
    });

    it("an award creates a pending escrow for the bid amount, and SUCCESS releases it (api)", async () => {
      const { taskId, outcome } = await biddingRound({ cheap: 120.5, steady: 300 });
      expect(outcome).toMatchObject({
        kind: "AWARDED",
        award: { agent_id: agents.cheap.id, status: "AWARDED" },
      });
      await project();
      const pending = await escrowOf(taskId, agents.cheap.id);
      expect(pending).toMatchObject({
        status: "pending",
        amount: "120.500000",
        worker_wallet: "wallet-cheap",
        settled_at: null,
        resolved_by: null,
      });

      await services.ledger.recordOutcome({
        task_id: taskId,
        winning_agent_id: agents.cheap.id,
        bid_amount: 120.5,
        actual_cost: 100,
        status: "SUCCESS",
        quality_score: 0.9,
        completion_timestamp: "2031-03-01T11:00:00.000Z",
      });
      await project();
      const released = await escrowOf(taskId, agents.cheap.id);
      expect(released).toMatchObject({ status: "released", resolved_by: "api" });
      expect(released?.settled_at).toBe("2031-03-01T10:00:00.000Z");
      const actions = (await store.listAudit({ agentId: agents.cheap.id })).map((row) => row.action);
      expect(actions).toEqual(
        expect.arrayContaining([
          "bid_accepted",
          "award_made",
          "escrow_created",
          "ledger_outcome",
          "escrow_released",
        ]),
      );
      // The outcome changed the profile's sums, so trust was recomputed from the ledger.
      const trust = await store.transaction((tx) => tx.agents.get(agents.cheap.id));
      expect(trust?.outcomes).toBe(1);
      expect(trust?.successes).toBe(1);
    });

    it("FAILURE disputes the escrow; a judge resolves it through the API, once", async () => {
      const { taskId } = await biddingRound({ steady: 200, pricey: 400 });
      await services.ledger.recordOutcome({
        task_id: taskId,
        winning_agent_id: agents.steady.id,
        bid_amount: 200,
        actual_cost: 200,
        status: "FAILURE",
        quality_score: 0.1,
        completion_timestamp: "2031-03-01T12:00:00.000Z",
      });
      await project();
      const escrowId = escrowIdFor(taskId, agents.steady.id);
      expect(await escrowOf(taskId, agents.steady.id)).toMatchObject({
        status: "disputed",
        resolved_by: null,
      });

      const listed = bodyOf(await api(apiGet("/escrows", TEST_API_TOKEN, { task_id: taskId })));
      expect(listed.items.map((e: { id: string }) => e.id)).toEqual([escrowId]);

      const resolve = (body: unknown) =>
        api(apiPost(`/escrows/${escrowId}/resolve`, JSON.stringify(body), asOperator("alice")));
      const invalid = await resolve({ resolution: "burn" });
      expect(invalid.statusCode).toBe(400);
      // The judge is whoever's credentials these are; naming another one is refused.
      const impersonating = await resolve({ resolution: "refund", judge: "judy" });
      expect(impersonating.statusCode).toBe(400);
      expect(bodyOf(impersonating).error.message).toContain("credentials");
      const resolved = await resolve({ resolution: "refund", note: "tests were failing" });
      expect(resolved.statusCode).toBe(200);
      expect(bodyOf(resolved)).toMatchObject({ status: "refunded", resolved_by: "judge" });
      const again = await resolve({ resolution: "release" });
      expect(again.statusCode).toBe(409);
      const audit = await store.listAudit({ agentId: agents.steady.id });
      expect(audit.find((row) => row.action === "escrow_resolved")).toMatchObject({
        actor: "operator:alice",
        details: { from: "disputed", to: "refunded", note: "tests were failing", task_id: taskId },
      });
    });

    it("holds an award above APPROVAL_THRESHOLD until a reviewer approves it, then notifies the winner", async () => {
      await drainQueue(agents.pricey.queue.client, agents.pricey.queue.queueUrl);
      const { taskId, outcome } = await biddingRound({ pricey: 1500 });
      expect(outcome).toMatchObject({ kind: "AWARDED", award: { status: "PENDING_APPROVAL" } });
      expect((await services.taskRepo.getTaskRecord(taskId))?.task.status).toBe("PENDING_APPROVAL");
      // Held: a held award owes no notice, so even a relay of it sends nothing.
      expect((await relay(taskId)).summary).toMatchObject({ task_status: "PENDING_APPROVAL", enqueued: 0 });
      expect(await drainQueue(agents.pricey.queue.client, agents.pricey.queue.queueUrl)).toHaveLength(0);
      await project();

      const list = bodyOf(await api(apiGet("/approvals", TEST_API_TOKEN, { status: "pending" })));
      const request = list.items.find((r: { task_id: string }) => r.task_id === taskId);
      expect(request).toMatchObject({
        agent_id: agents.pricey.id,
        bid_amount: "1500.000000",
        status: "pending",
        reason: `AMOUNT_ABOVE_THRESHOLD: 1500 > ${THRESHOLD}`,
      });
      expect(await escrowOf(taskId, agents.pricey.id)).toBeUndefined();

      const approved = await api(
        apiPost(`/approvals/${request.id}/approve`, JSON.stringify({ note: "budget ok" }), asOperator("bob")),
      );
      expect(approved.statusCode).toBe(200);
      expect(bodyOf(approved)).toMatchObject({ status: "approved", reviewer: "operator:bob" });
      const record = await services.taskRepo.getTaskRecord(taskId);
      expect(record?.task.status).toBe("AWARDED");
      expect(record?.award?.status).toBe("AWARDED");
      // The approval sent nothing itself; the award becoming AWARDED is what the stream relays.
      expect(await drainQueue(agents.pricey.queue.client, agents.pricey.queue.queueUrl)).toHaveLength(0);
      await relay(taskId);
      const sent = await drainQueue(agents.pricey.queue.client, agents.pricey.queue.queueUrl);
      expect(sent.map((m) => JSON.parse(m.Body ?? "{}"))).toEqual([
        expect.objectContaining({
          type: "AWARD",
          task_id: taskId,
          agent_id: agents.pricey.id,
          bid_amount: 1500,
        }),
      ]);
      // Approving twice is the same answer; rejecting an approved request is a conflict.
      expect(
        (await api(apiPost(`/approvals/${request.id}/approve`, JSON.stringify({ note: "again" }))))
          .statusCode,
      ).toBe(200);
      expect(
        (await api(apiPost(`/approvals/${request.id}/reject`, JSON.stringify({ note: "again" })))).statusCode,
      ).toBe(409);

      await project();
      expect(await escrowOf(taskId, agents.pricey.id)).toMatchObject({
        status: "pending",
        amount: "1500.000000",
      });
    });

    it("a Bronze-tier winner waits; rejecting moves the award to the next-best bid", async () => {
      // Governance scores the cheap agent Bronze (as a week of a dead endpoint would) and writes it back.
      await store.transaction((tx) =>
        tx.agents.setTrust(agents.cheap.id, { trust_score: 30, audit_level: "Bronze" }, clock.toISOString()),
      );
      await services.agentRepo.setTrust(agents.cheap.id, { trust_score: 30, audit_level: "Bronze" });
      await drainQueue(agents.cheap.queue.client, agents.cheap.queue.queueUrl);

      const { taskId, outcome } = await biddingRound({ cheap: 50, steady: 80 });
      expect(outcome).toMatchObject({
        kind: "AWARDED",
        award: {
          agent_id: agents.cheap.id,
          status: "PENDING_APPROVAL",
          approval_reason: "BRONZE_TIER: trust score 30",
        },
      });
      await project();
      const list = bodyOf(await api(apiGet("/approvals", TEST_API_TOKEN, { status: "pending" })));
      const request = list.items.find((r: { task_id: string }) => r.task_id === taskId);
      const rejected = await api(
        apiPost(`/approvals/${request.id}/reject`, JSON.stringify({ note: "not this one" })),
      );
      expect(rejected.statusCode).toBe(200);
      expect(bodyOf(rejected)).toMatchObject({
        request: { status: "rejected" },
        next: "AWARDED",
        next_agent_id: agents.steady.id,
      });
      const record = await services.taskRepo.getTaskRecord(taskId);
      expect(record?.award).toMatchObject({ agent_id: agents.steady.id, status: "AWARDED", bid_amount: 80 });
      expect(record?.task.approval_excluded_agents).toEqual([agents.cheap.id]);
      // The re-award is AWARDED at once, which the stream relays: the rejected agent learns why.
      await drainQueue(agents.steady.queue.client, agents.steady.queue.queueUrl);
      await relay(taskId);
      const sent = await drainQueue(agents.cheap.queue.client, agents.cheap.queue.queueUrl);
      expect(sent.map((m) => JSON.parse(m.Body ?? "{}"))).toEqual([
        expect.objectContaining({ type: "REJECTION", reason: expect.stringMatching(/^APPROVAL_REJECTED/) }),
      ]);
      expect(
        (await drainQueue(agents.steady.queue.client, agents.steady.queue.queueUrl)).map(
          (m) => JSON.parse(m.Body ?? "{}").type,
        ),
      ).toEqual(["AWARD"]);
      await project();
      expect(await escrowOf(taskId, agents.steady.id)).toMatchObject({
        status: "pending",
        amount: "80.000000",
      });
      expect(await escrowOf(taskId, agents.cheap.id)).toBeUndefined();
    });

    it("the kill switch stops a bidder within one request, and the audit log says who did it", async () => {
      const taskId = await invitedTask("kill", agents.steady.id);

      const killed = await api(
        apiPost(`/agents/${agents.steady.id}/kill`, JSON.stringify({ reason: "leaking tokens" }), {
          ...asOperator("alice"),
          // A header naming someone else changes nothing: the actor is the credential's.
          "x-agentforge-actor": "mallory",
        }),
      );
      expect(killed.statusCode).toBe(200);
      expect(bodyOf(killed)).toMatchObject({
        kill_switch_active: true,
        kill_switch_changed_by: "operator:alice",
      });

      // The very next requests: gone from capability listings, and its signed bid is refused.
      const listing = bodyOf(await api(apiGet("/agents", TEST_API_TOKEN, { capability: "python" })));
      expect(listing.items.map((a: { agent_id: string }) => a.agent_id)).not.toContain(agents.steady.id);
      const bids = bidService();
      const { body, signature } = sealedAgentMessage(
        {
          type: "BID",
          task_id: taskId,
          agent_id: agents.steady.id,
          bid_amount: 10,
          estimated_completion_sec: 60,
        },
        agents.steady.secret,
        { now: clock },
      );
      const receipt = await bids.receive({
        body,
        messageId: "kill-1",
        sentAt: clock.toISOString(),
        signature,
      });
      expect(receipt).toMatchObject({ status: "rejected", reason: "AGENT_DISABLED" });

      await project();
      const audit = await store.listAudit({ agentId: agents.steady.id });
      expect(audit.find((row) => row.action === "kill_switch_on")).toMatchObject({
        actor: "operator:alice",
        details: { reason: "leaking tokens" },
      });
      const trust = await store.transaction((tx) => tx.agents.get(agents.steady.id));
      expect(trust?.kill_switch_active).toBe(true);

      const revived = await api(apiPost(`/agents/${agents.steady.id}/revive`, undefined, asOperator("bob")));
      expect(bodyOf(revived)).toMatchObject({
        kill_switch_active: false,
        kill_switch_changed_by: "operator:bob",
      });
      await project();
      expect((await store.listAudit({ agentId: agents.steady.id })).at(-1)).toMatchObject({
        action: "kill_switch_off",
        actor: "operator:bob",
      });
    });

    it("a flood of 1,000 unsigned messages naming a task adds no item to its partition and no audit row", async () => {
      const taskId = await invitedTask("flood", agents.cheap.id);
      await project();
      const auditBefore = (await store.listAudit({ limit: 100_000 })).length;
      const itemsBefore = await services.taskRepo.getTaskRecord(taskId, { consistent: true });
      const bids = bidService();

      const receipts = [];
      for (let i = 0; i < 1000; i++) {
        const body = JSON.stringify({
          type: i % 2 ? "BID" : "\u0000",
          task_id: taskId,
          agent_id: i % 3 ? agents.cheap.id : `nobody-${i}`,
          bid_amount: i,
          estimated_completion_sec: 60,
          sent_at: clock.toISOString(),
          nonce: `flood-nonce-${String(i).padStart(6, "0")}`,
        });
        receipts.push(
          await bids.receive({
            body,
            messageId: `flood-${i}`,
            sentAt: clock.toISOString(),
            ...(i % 5 === 0 ? { signature: `sha256=${"0".repeat(64)}` } : {}),
          }),
        );
      }
      await project();

      expect(receipts.every((r) => r.status === "rejected" && !r.authenticated && !r.recorded)).toBe(true);
      expect(await services.taskRepo.getTaskRecord(taskId, { consistent: true })).toEqual(itemsBefore);
      expect((await store.listAudit({ limit: 100_000 })).length).toBe(auditBefore);
    });

    it("an agent's own wallet change is audited as its own, with the old and new wallet", async () => {
      const { id, queue, apiKey } = agents.pricey;
      const update = await api(
        apiPost(
          "/agents",
          JSON.stringify({
            agent_id: id,
            capabilities: ["python"],
            cost_model: "green",
            bidding_endpoint: queue.queueUrl,
            wallet_address: "wallet-pricey-2",
          }),
          { authorization: `Bearer ${apiKey}` },
        ),
      );
      expect(update.statusCode, update.body).toBe(200);

      await project();
      expect((await store.listAudit({ agentId: id })).at(-1)).toMatchObject({
        action: "agent_updated",
        actor: `agent:${id}`,
        details: {
          changed: ["wallet_address"],
          wallet: { from: "wallet-pricey", to: "wallet-pricey-2" },
        },
      });
    });

    it("re-delivering the whole stream applies nothing twice, and the audit chain verifies", async () => {
      const before = await store.listAudit({ limit: 1000 });
      const replay = createDynamoStreamSource({
        endpoint: table.endpoint,
        tableName: table.tableName,
        handler: createGovernanceStreamHandler({
          projector: createGovernanceProjector({ store, agents: services.agentRepo, now }),
          ...createObservability({ logLevel: "SILENT", metricsSink: () => {} }),
        }),
        sleep: async () => {},
      });
      expect(await replay.drain()).toBeGreaterThan(10);
      const after = await store.listAudit({ limit: 1000 });
      expect(after.length).toBe(before.length);
      const verify = await api(apiGet("/audit/verify"));
      expect(bodyOf(verify)).toMatchObject({ ok: true, rows: after.length, complete: true });
    });
  });
}

governanceFlow("PGlite", openPgliteTestStore);

// The same flow on the PostgreSQL server when one is configured (CI sets DATABASE_URL when
// `pg_isready` answers); without one the PGlite run above still covers every behaviour.
describe.skipIf(!process.env.DATABASE_URL)("with DATABASE_URL", () => {
  governanceFlow("PostgreSQL server", () => openPgTestStore(process.env.DATABASE_URL as string));
});
