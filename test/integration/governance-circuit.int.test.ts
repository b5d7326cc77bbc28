import type { DynamoDBRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpointCircuitRepository } from "../../src/adapters/dynamo/endpoint-circuit.repository.js";
import type { AuditEntry } from "../../src/domain/governance/governance.types.js";
import { createGovernanceProjector, DELIVERY_ACTOR } from "../../src/domain/governance/projector.js";
import { createDynamoStreamSource, type DynamoStreamSource } from "../../src/local/dynamodb-stream-source.js";
import { createObservability } from "../../src/observability.js";
import type { EndpointCircuit } from "../../src/ports/endpoint-circuit.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { functionById, matchesStreamFilters } from "../../src/topology.js";
import { createGovernanceStreamHandler } from "../../src/workers/governance-stream.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { openPgliteTestStore, openPgTestStore, type TestGovernanceStore } from "../helpers/postgres.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

/**
 * A delivery circuit breaker reaches governance through the table's stream: DynamoDB Local's stream,
 * read by the local event source mapping with the projector's own trigger filter (built from
 * PROJECTED_ITEM_TYPES), the real projector, and Postgres (PGlite, and the server when DATABASE_URL
 * is set). Opening is a health sample "down" (source `delivery`), a trust refresh written back onto
 * the profile and one audit row; closing after a delivery a sample "up" and one audit row. Every
 * record delivered is then delivered again: nothing changes.
 *
 * Trust, by the formula in trust.ts (a new agent: performance 67, no samples, no probe):
 *   registered     round(0.5·67 + 0.3·50 + 0.2·50) = 59 Silver
 *   opened         one sample down: reliability 0 → round(33.5 + 0 + 10) = 44, Bronze (capped ≤ 49)
 *   closed         down + up: reliability 50 × (1 − 0.5) = 25 → round(33.5 + 7.5 + 10) = 51, capped 49
 */

const T0 = Date.parse("2031-06-01T08:00:00.000Z");
const COOLDOWN = 300_000;
const TRIAL = 30_000;

function circuitSuite(label: string, open: () => Promise<TestGovernanceStore>) {
  describe(`endpoint circuit in governance (${label})`, () => {
    let table: TestTable;
    let services: ReturnType<typeof servicesFor>;
    let gov: TestGovernanceStore;
    let store: GovernanceStore;
    let stream: DynamoStreamSource;
    let handler: ReturnType<typeof createGovernanceStreamHandler>;
    let circuit: EndpointCircuit;
    let agentId: string;
    let endpoint: string;
    const delivered: DynamoDBRecord[] = [];
    let clock = T0;
    const now = () => new Date(clock);

    const auditOf = async (): Promise<AuditEntry[]> => store.listAudit({ agentId, limit: 1000 });
    const healthOf = async () =>
      (
        await gov.client.query<{
          uptime_percentage: number;
          error_rate: number;
          avg_latency_ms: number;
          source: string;
          recorded_at: Date | string;
        }>(
          `SELECT uptime_percentage, error_rate, avg_latency_ms, source, recorded_at
           FROM health_metrics WHERE agent_id = $1 ORDER BY id`,
          [agentId],
        )
      ).map((row) => ({ ...row, recorded_at: new Date(row.recorded_at).toISOString() }));
    const fail = (error: string) => circuit.record(agentId, endpoint, { ok: false, error });

    /** Delivers every record delivered so far once more, as a redelivered or replayed stream would. */
    async function redeliverAll() {
      const response = await handler({ Records: [...delivered] });
      expect(response.batchItemFailures).toEqual([]);
    }

    beforeAll(async () => {
      table = await useTestTable();
      services = servicesFor(table, now);
      gov = await open();
      store = gov.store;
      const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
      const projector = createGovernanceProjector({ store, agents: services.agentRepo, now });
      handler = createGovernanceStreamHandler({ projector, logger, metrics });
      const trigger = functionById("projector").trigger;
      if (trigger.kind !== "stream") throw new Error("the projector has no stream trigger");
      stream = createDynamoStreamSource({
        endpoint: table.endpoint,
        tableName: table.tableName,
        filter: (record) => matchesStreamFilters(trigger.filters, record),
        handler: async (event) => {
          delivered.push(...event.Records);
          return handler(event);
        },
        sleep: async () => {},
        retryDelayMs: { base: 1, max: 5 },
      });
      circuit = createEndpointCircuitRepository({
        service: table.service,
        failureThreshold: 3,
        cooldownMs: COOLDOWN,
        trialMs: TRIAL,
        now,
      });
      const input = agentInput();
      await services.agents.register(input, TEST_OPERATOR);
      agentId = input.agent_id;
      endpoint = input.bidding_endpoint;
      await stream.drain();
    });

    afterAll(async () => {
      await stream?.stop();
      await gov?.dispose();
    });

    it("failures below the threshold reach no health, trust or audit row", async () => {
      expect(await store.transaction((tx) => tx.agents.get(agentId))).toMatchObject({
        trust_score: 59,
        audit_level: "Silver",
      });
      const before = (await auditOf()).length;
      clock = T0 + 1_000;
      await fail("HTTP 503");
      await fail("HTTP 503");
      await stream.drain();
      expect(delivered.some((r) => r.dynamodb?.NewImage?.type?.S === "ENDPOINT_CIRCUIT")).toBe(true);
      expect(await healthOf()).toEqual([]);
      expect(await auditOf()).toHaveLength(before);
    });

    it("an opened circuit reaches health, trust (and the profile) and the audit log, once", async () => {
      const before = (await auditOf()).length;
      clock = T0 + 2_000;
      expect(await fail("connect ECONNREFUSED\u0000")).toEqual({ change: "opened", consecutive_failures: 3 });
      await stream.drain();

      const openedAt = new Date(T0 + 2_000).toISOString();
      expect(await healthOf()).toEqual([
        { uptime_percentage: 0, error_rate: 1, avg_latency_ms: 0, source: "delivery", recorded_at: openedAt },
      ]);
      expect(await store.transaction((tx) => tx.agents.get(agentId))).toMatchObject({
        trust_score: 44,
        audit_level: "Bronze",
        last_probe_score: null,
      });
      expect(await services.agentRepo.getProfile(agentId)).toMatchObject({
        trust_score: 44,
        audit_level: "Bronze",
      });
      const added = (await auditOf()).slice(before);
      expect(added.map((row) => [row.action, row.actor, row.success])).toEqual([
        ["endpoint_circuit_opened", DELIVERY_ACTOR, false],
        ["trust_tier_changed", DELIVERY_ACTOR, true],
      ]);
      expect(added[0]).toMatchObject({
        agent_id: agentId,
        resource: `agent:${agentId}`,
        occurred_at: openedAt,
        details: {
          endpoint,
          consecutive_failures: 3,
          open_until: new Date(T0 + 2_000 + COOLDOWN).toISOString(),
          last_error: "connect ECONNREFUSED?",
        },
      });
      expect(added[1]?.details).toMatchObject({ from: "Silver", to: "Bronze", trust_score: 44 });
      expect(await store.wasApplied(`circuit:${agentId}#${openedAt}#opened`)).toBe(true);

      // Redelivered and replayed records (the whole stream so far) change nothing.
      const rows = (await auditOf()).length;
      await redeliverAll();
      await redeliverAll();
      expect(await auditOf()).toHaveLength(rows);
      expect(await healthOf()).toHaveLength(1);
    });

    it("refused deliveries and the trial's claim reach nothing; its success closes it: health up and one audit row", async () => {
      const before = (await auditOf()).length;
      clock = T0 + 3_000;
      expect(await circuit.admit(agentId, endpoint)).toMatchObject({ allowed: false });
      clock = T0 + 2_000 + COOLDOWN;
      expect(await circuit.admit(agentId, endpoint)).toMatchObject({ allowed: true, trial: true });
      await stream.drain();
      expect(await auditOf()).toHaveLength(before);

      clock += 150;
      expect(await circuit.record(agentId, endpoint, { ok: true })).toEqual({
        change: "closed",
        consecutive_failures: 0,
      });
      await stream.drain();
      const closedAt = new Date(clock).toISOString();
      expect((await healthOf()).map((row) => [row.uptime_percentage, row.source, row.recorded_at])).toEqual([
        [0, "delivery", new Date(T0 + 2_000).toISOString()],
        [100, "delivery", closedAt],
      ]);
      const added = (await auditOf()).slice(before);
      expect(added.map((row) => [row.action, row.actor, row.success])).toEqual([
        ["endpoint_circuit_closed", DELIVERY_ACTOR, true],
      ]);
      expect(added[0]).toMatchObject({
        occurred_at: closedAt,
        details: { endpoint, consecutive_failures: 0, reason: "delivered", previous_endpoint: null },
      });
      expect(await store.transaction((tx) => tx.agents.get(agentId))).toMatchObject({
        trust_score: 49,
        audit_level: "Bronze",
      });
      expect(await services.agentRepo.getProfile(agentId)).toMatchObject({ trust_score: 49 });

      const rows = (await auditOf()).length;
      await redeliverAll();
      expect(await auditOf()).toHaveLength(rows);
      expect(await healthOf()).toHaveLength(2);
      expect((await store.verifyAudit({ full: true })).ok).toBe(true);
    });
  });
}

circuitSuite("PGlite", openPgliteTestStore);

describe.skipIf(!process.env.DATABASE_URL)("with DATABASE_URL", () => {
  circuitSuite("PostgreSQL server", () => openPgTestStore(process.env.DATABASE_URL as string));
});
