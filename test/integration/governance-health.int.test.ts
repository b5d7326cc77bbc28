import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createEndpointProber } from "../../src/adapters/endpoints/endpoint-prober.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import type { AgentProfile } from "../../src/domain/agents/agent.types.js";
import { type AwardCandidate, createAwardService } from "../../src/domain/bidding/award.service.js";
import { createApprovalPolicy } from "../../src/domain/governance/approval-policy.js";
import type { AuditEntry } from "../../src/domain/governance/governance.types.js";
import { createHealthService, type HealthService } from "../../src/domain/governance/health.service.js";
import { governanceEventsOf } from "../../src/domain/governance/projection.js";
import {
  createGovernanceProjector,
  type GovernanceProjector,
} from "../../src/domain/governance/projector.js";
import type { Task } from "../../src/domain/tasks/task.types.js";
import type { AgentRepository } from "../../src/ports/agent-repository.js";
import type { EndpointProber } from "../../src/ports/endpoint-prober.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { type NoticeRelay, useNoticeRelay } from "../helpers/notice-relay.js";
import { openPgliteTestStore, openPgTestStore, type TestGovernanceStore } from "../helpers/postgres.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { type TestQueue, useTestQueue } from "../helpers/sqs.js";

/**
 * The scheduled health prober end to end on real parts: agents registered in DynamoDB Local and
 * projected into governance by the real projector (from the profiles DynamoDB stores, as the table's
 * stream would carry them), an SQS emulator queue that exists (up), plain-HTTP loopback servers
 * standing in for HTTPS endpoints (local mode), Postgres (PGlite, and the server when DATABASE_URL is
 * set), and trust written back onto the DynamoDB profile where the award's approval policy reads it.
 *
 * Expected trust numbers are worked out by hand from the formula documented in trust.ts / README:
 *
 *   performance = 100 × (0.7 × success + 0.3 × quality); a new agent: 100 × (0.7×0.7 + 0.3×0.6) = 67
 *   reliability = mean uptime % × (1 − mean error rate) over the last 7 days (50 without samples)
 *   probe       = latest probe score (50 before the first probe; 100 for an answer within 500 ms, 0 down)
 *   trust       = round(0.5 × performance + 0.3 × reliability + 0.2 × probe)
 *   tier        = Platinum ≥ 90, Gold ≥ 75, Silver ≥ 50, Bronze < 50
 *
 * A probe writes uptime 100 / error 0 when up and uptime 0 / error 1 when down. The prober's latency
 * clock is injected (7 ms per probe, probes one at a time) so every probe score is exact.
 */

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse("2031-05-01T00:00:00.000Z");
const PROBE_LATENCY_MS = 7;

/** A plain HTTP server on 127.0.0.1 answering `status`, recording every request it gets. */
interface AgentServer {
  url: string;
  host: string;
  status: number;
  requests: Array<{ method: string | undefined; path: string | undefined }>;
  close(): Promise<void>;
}

async function startAgentServer(status: number): Promise<AgentServer> {
  const server: Server = createServer((req, res) => {
    state.requests.push({ method: req.method, path: req.url });
    req.resume();
    res.writeHead(state.status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: AgentServer = {
    url: `http://${host}/bids`,
    host,
    status,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return state;
}

/** The actions of audit rows, in order. */
function actions(rows: AuditEntry[]): string[] {
  return rows.map((row) => row.action);
}

function healthSuite(label: string, open: () => Promise<TestGovernanceStore>) {
  describe(`health prober end to end (${label})`, () => {
    let table: TestTable;
    let services: ReturnType<typeof servicesFor>;
    let gov: TestGovernanceStore;
    let store: GovernanceStore;
    let projector: GovernanceProjector;
    let prober: EndpointProber;
    let health: HealthService;
    let upQueue: TestQueue;
    let bidsQueue: TestQueue;
    /** Created in a hook (`useTestQueue` registers its cleanup, which only hooks may do). */
    let deliveryQueue: TestQueue;
    const servers: AgentServer[] = [];
    let flakyServer: AgentServer;
    let killedServer: AgentServer;
    const ids = { up: "", flaky: "", killed: "" };

    let clock = new Date(T0);
    const now = () => clock;
    const setClock = (offsetMs: number) => {
      clock = new Date(T0 + offsetMs);
    };

    /** Feeds a profile change to the projector as the table's stream would deliver it. */
    async function project(before: AgentProfile | undefined, after: AgentProfile) {
      const events = governanceEventsOf({
        eventName: before ? "MODIFY" : "INSERT",
        ...(before ? { oldImage: { ...before } } : {}),
        newImage: { ...after },
        approximateAt: after.updated_at,
      });
      for (const event of events) await projector.apply(event);
    }

    async function register(endpoint: string): Promise<AgentProfile> {
      const { profile } = await services.agents.register(
        agentInput({ bidding_endpoint: endpoint, capabilities: ["python"] }),
        TEST_OPERATOR,
      );
      await project(undefined, profile);
      return profile;
    }

    const trustOf = (agentId: string) => store.transaction((tx) => tx.agents.get(agentId));
    /** Health metrics of the trust window ending now (the 7 days `refreshTrust` reads). */
    const healthOf = (agentId: string) =>
      store.transaction((tx) =>
        tx.health.summary(agentId, new Date(clock.getTime() - 7 * DAY).toISOString()),
      );
    const auditOf = (agentId: string) => store.listAudit({ agentId, limit: 1000 });
    const profileOf = async (agentId: string) => {
      const profile = await services.agentRepo.getProfile(agentId);
      if (!profile) throw new Error(`no profile for ${agentId}`);
      return profile;
    };

    /** The award policy's view of a winning bid by `profile` (the policy reads the tier from it). */
    const candidate = (profile: AgentProfile, amount: number): AwardCandidate => ({
      rank: 1,
      score: 0.9,
      components: { price: 1, success: 0.7, quality: 0.6, speed: 1 },
      bid: {
        type: "BID",
        task_id: issueUrl(),
        agent_id: profile.agent_id,
        status: "ACCEPTED",
        invited_at: clock.toISOString(),
        delivery_status: "DELIVERED",
        bid_amount: amount,
        estimated_completion_sec: 600,
        answered_at: clock.toISOString(),
        updated_at: clock.toISOString(),
      },
      profile,
    });

    beforeAll(async () => {
      table = await useTestTable();
      services = servicesFor(table, now);
      gov = await open();
      store = gov.store;
      upQueue = await useTestQueue("health-up");
      bidsQueue = await useTestQueue("health-bids");
      deliveryQueue = await useTestQueue("health-delivery");
      projector = createGovernanceProjector({ store, agents: services.agentRepo, now });
      let tick = 0;
      prober = createEndpointProber({
        allowLoopback: true,
        timeoutMs: 2000,
        sqsClient: upQueue.client,
        sqsClientFor: () => upQueue.client,
        // Called once when a probe starts and once when it ends (one probe at a time): 7 ms each.
        now: () => {
          tick += PROBE_LATENCY_MS;
          return tick;
        },
      });
      health = createHealthService({ store, prober, agents: services.agentRepo, now, concurrency: 1 });

      flakyServer = await startAgentServer(200);
      killedServer = await startAgentServer(200);
      servers.push(flakyServer, killedServer);
      ids.up = (await register(upQueue.queueUrl)).agent_id;
      ids.flaky = (await register(flakyServer.url)).agent_id;
      const killed = await register(killedServer.url);
      ids.killed = killed.agent_id;
      const switched = await services.agents.setKillSwitch(ids.killed, true, TEST_OPERATOR, {
        reason: "leaking tokens",
      });
      await project(killed, switched);
    });

    afterAll(async () => {
      await Promise.all(servers.map((server) => server.close()));
      await gov?.dispose();
    });

    it("projects the registrations (Silver 59 each) and lists only the active, live agents as probe targets", async () => {
      for (const agentId of [ids.up, ids.flaky, ids.killed]) {
        // 0.5 × 67 + 0.3 × 50 + 0.2 × 50 = 58.5 → 59
        expect(await trustOf(agentId)).toMatchObject({
          trust_score: 59,
          audit_level: "Silver",
          last_probe_score: null,
        });
        expect(await profileOf(agentId)).toMatchObject({ trust_score: 59, audit_level: "Silver" });
      }
      expect((await trustOf(ids.killed))?.kill_switch_active).toBe(true);
      expect(actions(await auditOf(ids.killed))).toEqual(["agent_registered", "kill_switch_on"]);
      const targets = await store.listProbeTargets({ limit: 100 });
      expect(targets.items.map((agent) => agent.agent_id).sort()).toEqual([ids.up, ids.flaky].sort());
    });

    it("first run: probes both live endpoints, records a metric each, scores them Gold — and never touches the killed one", async () => {
      setClock(0);
      const summary = await health.probeAll();

      expect(summary).toEqual({ probed: 2, up: 2, down: 0, failed: 0, more: false });
      for (const agentId of [ids.up, ids.flaky]) {
        expect(await healthOf(agentId)).toEqual({
          samples: 1,
          uptime_percentage: 100,
          error_rate: 0,
          avg_latency_ms: PROBE_LATENCY_MS,
        });
        // 0.5 × 67 + 0.3 × (100 × (1 − 0)) + 0.2 × 100 = 83.5 → 84
        expect(await trustOf(agentId)).toMatchObject({
          trust_score: 84,
          audit_level: "Gold",
          last_probe_score: 100,
        });
        expect(await profileOf(agentId)).toMatchObject({ trust_score: 84, audit_level: "Gold" });
      }
      expect(flakyServer.requests).toEqual([{ method: "GET", path: "/bids" }]);
      // A first probe has nothing to compare with: only the tier move is audited.
      const flakyAudit = await auditOf(ids.flaky);
      expect(actions(flakyAudit)).toEqual(["agent_registered", "trust_tier_changed"]);
      expect(flakyAudit[1]).toMatchObject({
        actor: "system:prober",
        resource: `agent:${ids.flaky}`,
        success: true,
        occurred_at: new Date(T0).toISOString(),
        details: {
          from: "Silver",
          to: "Gold",
          trust_score: 84,
          pillars: { performance: expect.closeTo(67, 6), reliability: 100, probe: 100 },
        },
      });

      // Kill-switched: no request reached its server, no metric, no probe score.
      expect(killedServer.requests).toEqual([]);
      expect(await healthOf(ids.killed)).toBeUndefined();
      expect(await trustOf(ids.killed)).toMatchObject({ trust_score: 59, last_probe_score: null });
    });

    it("three more healthy hours add metrics but no audit rows and no trust change", async () => {
      const before = await store.listAudit({ limit: 1000 });
      setClock(HOUR);
      // Out of time before the first page: nothing probed, the rest left to the next run.
      expect(await health.probeAll({ hasTime: () => false })).toEqual({
        probed: 0,
        up: 0,
        down: 0,
        failed: 0,
        more: true,
      });
      expect(flakyServer.requests).toHaveLength(1);
      for (const hour of [1, 2, 3]) {
        setClock(hour * HOUR);
        expect(await health.probeAll()).toMatchObject({ probed: 2, up: 2, down: 0, failed: 0 });
      }
      expect(await healthOf(ids.flaky)).toMatchObject({ samples: 4, uptime_percentage: 100, error_rate: 0 });
      expect(await trustOf(ids.flaky)).toMatchObject({ trust_score: 84, audit_level: "Gold" });
      expect(await store.listAudit({ limit: 1000 })).toHaveLength(before.length);
      expect(flakyServer.requests).toHaveLength(4);
      expect(killedServer.requests).toEqual([]);
    });

    it("the endpoint answers 503: probe score 0, trust from the formula, endpoint_down, tier written onto the profile", async () => {
      flakyServer.status = 503;
      setClock(4 * HOUR);
      const seen = (await auditOf(ids.flaky)).length;

      expect(await health.probeAll()).toEqual({ probed: 2, up: 1, down: 1, failed: 0, more: false });

      expect((await trustOf(ids.up))?.last_probe_score).toBe(100);
      expect((await trustOf(ids.flaky))?.last_probe_score).toBe(0);
      expect(await healthOf(ids.flaky)).toEqual({
        samples: 5,
        uptime_percentage: 80,
        error_rate: 0.2,
        avg_latency_ms: PROBE_LATENCY_MS,
      });
      // reliability 80 × (1 − 0.2) = 64; 0.5 × 67 + 0.3 × 64 + 0.2 × 0 = 52.7 → 53
      expect(await trustOf(ids.flaky)).toMatchObject({ trust_score: 53, audit_level: "Silver" });
      expect(await profileOf(ids.flaky)).toMatchObject({ trust_score: 53, audit_level: "Silver" });
      // The healthy agent is unchanged: 5 up samples, still 84.
      expect(await trustOf(ids.up)).toMatchObject({ trust_score: 84, audit_level: "Gold" });
      expect(await profileOf(ids.up)).toMatchObject({ trust_score: 84, audit_level: "Gold" });

      const fresh = (await auditOf(ids.flaky)).slice(seen);
      expect(actions(fresh)).toEqual(["endpoint_down", "trust_tier_changed"]);
      expect(fresh[0]).toMatchObject({
        agent_id: ids.flaky,
        resource: `agent:${ids.flaky}`,
        actor: "system:prober",
        success: false,
        cost: null,
        occurred_at: new Date(T0 + 4 * HOUR).toISOString(),
        details: {
          endpoint_kind: "https",
          latency_ms: PROBE_LATENCY_MS,
          status_code: 503,
          error: `HTTP 503 from ${flakyServer.host}`,
        },
      });
      expect(fresh[1]?.details).toMatchObject({ from: "Gold", to: "Silver", trust_score: 53 });
      expect(actions(await auditOf(ids.up))).toEqual(["agent_registered", "trust_tier_changed"]);
    });

    it("still down an hour later: no second endpoint_down, only the tier move", async () => {
      setClock(5 * HOUR);
      const seen = (await auditOf(ids.flaky)).length;

      expect(await health.probeAll()).toMatchObject({ probed: 2, up: 1, down: 1, failed: 0 });

      // uptime 400/6 = 66.7, error 2/6: reliability 44.4; 33.5 + 13.3 + 0 = 46.8 → 47
      expect(await trustOf(ids.flaky)).toMatchObject({
        trust_score: 47,
        audit_level: "Bronze",
        last_probe_score: 0,
      });
      expect(await profileOf(ids.flaky)).toMatchObject({ trust_score: 47, audit_level: "Bronze" });
      const fresh = (await auditOf(ids.flaky)).slice(seen);
      expect(actions(fresh)).toEqual(["trust_tier_changed"]);
      expect(fresh[0]?.details).toMatchObject({ from: "Silver", to: "Bronze", trust_score: 47 });
    });

    it("back to 200: endpoint_up, and trust climbs again", async () => {
      flakyServer.status = 200;
      setClock(6 * HOUR);
      const seen = (await auditOf(ids.flaky)).length;

      expect(await health.probeAll()).toEqual({ probed: 2, up: 2, down: 0, failed: 0, more: false });

      // uptime 500/7 = 71.4, error 2/7: reliability 51.0; 33.5 + 15.3 + 20 = 68.8 → 69
      expect(await trustOf(ids.flaky)).toMatchObject({
        trust_score: 69,
        audit_level: "Silver",
        last_probe_score: 100,
      });
      expect(await profileOf(ids.flaky)).toMatchObject({ trust_score: 69, audit_level: "Silver" });
      const fresh = (await auditOf(ids.flaky)).slice(seen);
      expect(actions(fresh)).toEqual(["endpoint_up", "trust_tier_changed"]);
      expect(fresh[0]).toMatchObject({
        actor: "system:prober",
        success: true,
        details: { endpoint_kind: "https", status_code: 200, error: null, latency_ms: PROBE_LATENCY_MS },
      });
      expect(fresh[1]?.details).toMatchObject({ from: "Bronze", to: "Silver", trust_score: 69 });
    });

    it("down for the whole reliability window: Bronze on the profile, and the approval policy holds its award", async () => {
      flakyServer.status = 503;
      setClock(1 * DAY);
      await health.probeAll();
      // 8 samples in the window, 5 up: uptime 62.5, error 0.375 → reliability 39.06;
      // 33.5 + 11.72 + 0 = 45.2 → 45
      expect(await trustOf(ids.flaky)).toMatchObject({ trust_score: 45, audit_level: "Bronze" });
      setClock(4 * DAY);
      await health.probeAll();
      // 9 samples, 5 up: uptime 55.6, error 0.444 → reliability 30.9; 33.5 + 9.26 = 42.8 → 43
      expect(await trustOf(ids.flaky)).toMatchObject({ trust_score: 43, audit_level: "Bronze" });
      expect(await profileOf(ids.flaky)).toMatchObject({ trust_score: 43, audit_level: "Bronze" });

      // 7.5 days later every healthy sample has left the window: only the two failed probes remain.
      setClock(8 * DAY + 12 * HOUR);
      expect(await health.probeAll()).toMatchObject({ probed: 2, up: 1, down: 1, failed: 0 });
      expect(await healthOf(ids.flaky)).toEqual({
        samples: 2,
        uptime_percentage: 0,
        error_rate: 1,
        avg_latency_ms: PROBE_LATENCY_MS,
      });
      // reliability 0, probe 0: 0.5 × 67 = 33.5 → 34, Bronze
      expect(await trustOf(ids.flaky)).toMatchObject({
        trust_score: 34,
        audit_level: "Bronze",
        last_probe_score: 0,
      });
      const flaky = await profileOf(ids.flaky);
      expect(flaky).toMatchObject({ trust_score: 34, audit_level: "Bronze" });
      const up = await profileOf(ids.up);
      expect(up).toMatchObject({ trust_score: 84, audit_level: "Gold" });

      // Down again after having come back: one more endpoint_down, none for the repeated failures.
      expect(actions(await auditOf(ids.flaky))).toEqual([
        "agent_registered",
        "trust_tier_changed",
        "endpoint_down",
        "trust_tier_changed",
        "trust_tier_changed",
        "endpoint_up",
        "trust_tier_changed",
        "endpoint_down",
        "trust_tier_changed",
      ]);

      // The policy, reading the tiers from the profiles DynamoDB holds:
      const policy = createApprovalPolicy();
      const task = {} as Task;
      expect(await policy.decide(candidate(flaky, 50), task)).toEqual({
        status: "PENDING_APPROVAL",
        reason: "BRONZE_TIER: trust score 34",
      });
      expect(await policy.decide(candidate(up, 80), task)).toBe("AWARDED");

      // And a real bidding round: the cheaper Bronze agent wins, and its award waits for a human.
      const bidding = createBiddingRepository({ service: table.service, now });
      const awards = createAwardService({
        tasks: services.taskRepo,
        bidding,
        agents: services.agentRepo,
        approval: policy,
        now,
      });
      // The notice path the table stream's relay drives once an award is final.
      const notices: NoticeRelay = useNoticeRelay(deliveryQueue, table.service, {
        agents: services.agentRepo,
        bidding,
        tasks: services.taskRepo,
        sender: createEndpointSender({
          sqs: createSqsEndpointSender({ client: bidsQueue.client }),
          https: createHttpsEndpointSender({ allowLoopback: true, timeoutMs: 2000 }),
        }),
        bidsQueueUrl: bidsQueue.queueUrl,
      });
      const taskId = issueUrl();
      await services.taskRepo.createTask({
        task_id: taskId,
        title: "held",
        required_capabilities: ["python"],
      });
      await bidding.invite(taskId, [ids.flaky, ids.up]);
      for (const [agentId, amount] of [
        [ids.flaky, 50],
        [ids.up, 80],
      ] as const) {
        await bidding.acceptBid(taskId, agentId, {
          bid_amount: amount,
          estimated_completion_sec: 600,
          sent_at: clock.toISOString(),
        });
      }
      const outcome = await awards.evaluate(taskId);
      expect(outcome).toMatchObject({
        kind: "AWARDED",
        award: {
          agent_id: ids.flaky,
          status: "PENDING_APPROVAL",
          approval_reason: "BRONZE_TIER: trust score 34",
        },
      });
      expect((await services.taskRepo.getTaskRecord(taskId))?.task.status).toBe("PENDING_APPROVAL");
      // Held: the award owes no notice yet, so a relay of it (notify, then delivery) sends nothing.
      expect(await notices.relay(taskId)).toEqual({
        summary: { task_id: taskId, task_status: "PENDING_APPROVAL", enqueued: 0 },
        outcomes: [],
      });
      // Nothing was sent to either agent (the flaky server only ever saw the prober's GETs).
      expect(await upQueue.drain()).toEqual([]);
      expect(new Set(flakyServer.requests.map((request) => request.method))).toEqual(new Set(["GET"]));
      expect(killedServer.requests).toEqual([]);
      expect(await store.verifyAudit()).toMatchObject({ ok: true });
    });

    // Regression: the profile is compared with governance's trust on every probe, so a write-back that failed once is repaired by the next run.
    it("a profile write that failed after the probe was recorded is repaired by the next run", async () => {
      const staleServer = await startAgentServer(503);
      servers.push(staleServer);
      const stale = await register(staleServer.url);
      expect(await profileOf(stale.agent_id)).toMatchObject({ trust_score: 59, audit_level: "Silver" });

      let failed = false;
      const flakyDynamo: Pick<AgentRepository, "setTrust" | "getProfile"> = {
        getProfile: (agentId) => services.agentRepo.getProfile(agentId),
        async setTrust(agentId, trust) {
          if (agentId === stale.agent_id && !failed) {
            failed = true;
            throw new Error("ProvisionedThroughputExceededException (simulated)");
          }
          return services.agentRepo.setTrust(agentId, trust);
        },
      };
      setClock(8 * DAY + 13 * HOUR);
      const first = await createHealthService({
        store,
        prober,
        agents: flakyDynamo,
        now,
        concurrency: 1,
      }).probeAll();
      expect(first).toMatchObject({ failed: 1 });
      // Postgres has the new trust (reliability 0, probe 0: 33.5 → 34); the profile still says Silver.
      expect(await trustOf(stale.agent_id)).toMatchObject({ trust_score: 34, audit_level: "Bronze" });
      expect(await profileOf(stale.agent_id)).toMatchObject({ trust_score: 59, audit_level: "Silver" });

      setClock(8 * DAY + 14 * HOUR);
      expect(await health.probeAll()).toMatchObject({ failed: 0 });
      expect(await profileOf(stale.agent_id)).toMatchObject({ trust_score: 34, audit_level: "Bronze" });
    });

    // Regression: a measured reliability below 50 caps trust at 49, so even a flawless record with a dead endpoint is Bronze.
    it("a veteran agent whose endpoint is dead for the whole window also falls to Bronze", async () => {
      const deadServer = await startAgentServer(503);
      servers.push(deadServer);
      const veteran = await register(deadServer.url);
      // Governance's view after 100 outcomes, all SUCCESS with quality 1.0 (the profile's exact sums).
      await store.transaction((tx) =>
        tx.agents.upsert(
          {
            agent_id: veteran.agent_id,
            bidding_endpoint: veteran.bidding_endpoint,
            endpoint_kind: veteran.endpoint_kind,
            status: veteran.status,
            kill_switch_active: false,
            outcomes: 100,
            successes: 100,
            quality_micros: 100_000_000,
            profile_version: veteran.version,
            updated_at: veteran.updated_at,
          },
          clock.toISOString(),
        ),
      );
      setClock(9 * DAY);
      await health.probeAll();
      setClock(16 * DAY + HOUR);
      await health.probeAll();
      expect(await healthOf(veteran.agent_id)).toMatchObject({ uptime_percentage: 0, error_rate: 1 });

      // performance = 100 × (0.7 × (100 + 3×0.7)/103 + 0.3 × (100 + 3×0.6)/103) = 99.04;
      // trust = round(0.5 × 99.04 + 0 + 0) = round(49.52) = 50 → Silver, although the doc promises Bronze.
      const profile = await profileOf(veteran.agent_id);
      expect(profile.trust_score, "trust of a veteran whose endpoint is dead").toBeLessThan(50);
      expect(profile.audit_level).toBe("Bronze");
      expect(await createApprovalPolicy().decide(candidate(profile, 10), {} as Task)).toMatchObject({
        status: "PENDING_APPROVAL",
      });
    });
  });
}

healthSuite("PGlite", openPgliteTestStore);

describe.skipIf(!process.env.DATABASE_URL)("with DATABASE_URL", () => {
  healthSuite("PostgreSQL server", () => openPgTestStore(process.env.DATABASE_URL as string));
});
