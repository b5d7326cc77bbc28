import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildAwardService, buildRepositories, buildRestApi } from "../../functions/shared/container.js";
import { pgPoolBounds } from "../../src/adapters/postgres/open-governance-store.js";
import { createPgClient } from "../../src/adapters/postgres/pg.client.js";
import { type Config, loadConfig } from "../../src/config.js";
import { isStoreUnavailable } from "../../src/domain/errors.js";
import { createObservability } from "../../src/observability.js";
import { runBiddingRound } from "../helpers/bidding-round.js";
import { type BlackHole, startBlackHole } from "../helpers/black-hole.js";
import { useTestTable } from "../helpers/dynamo.js";
import { useTestQueue } from "../helpers/sqs.js";

const API_TOKEN = "blackhole-test-token-0123456789";
/** The bound: a governance route answers within 3 s while Postgres is black-holed. */
const BOUND_MS = 3000;

/**
 * Postgres black-holed, not refused: DATABASE_URL points at a listener that accepts and never
 * answers. The REST API is the container's, with the default pool bounds from the configuration,
 * so this checks the wiring as deployed: governance routes fail fast with 503, the marketplace
 * (DynamoDB, SQS) keeps registering agents, taking bids and awarding tasks.
 */
describe("governance with Postgres black-holed", () => {
  let hole: BlackHole;
  let config: Config;
  let api: ReturnType<typeof buildRestApi>;

  beforeAll(async () => {
    vi.stubEnv("POWERTOOLS_LOG_LEVEL", "SILENT");
    vi.stubEnv("POWERTOOLS_METRICS_DISABLED", "true");
    const table = await useTestTable();
    const bids = await useTestQueue("blackhole-bids");
    hole = await startBlackHole();
    config = loadConfig({
      AGENTFORGE_LOCAL: "true",
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      SQS_ENDPOINT: bids.endpoint,
      BIDS_QUEUE_URL: bids.queueUrl,
      AGENTFORGE_API_TOKEN: API_TOKEN,
      AUDIT_HMAC_KEY: "blackhole-audit-key-0123456789abcdef",
      DATABASE_URL: `postgres://agentforge@127.0.0.1:${hole.port}/governance`,
    });
    api = buildRestApi(config);
  });

  afterAll(async () => {
    await hole?.close();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const started = performance.now();
    const response = (await api.handle({
      rawPath: path,
      headers: { authorization: `Bearer ${API_TOKEN}`, "content-type": "application/json" },
      requestContext: { http: { method } },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2)) as APIGatewayProxyStructuredResultV2;
    return { response, ms: performance.now() - started };
  };

  it.each(["/escrows", "/audit/verify", "/approvals"])(
    "GET %s answers 503 GOVERNANCE_UNAVAILABLE with Retry-After within 3 s",
    async (path) => {
      const acceptedBefore = hole.accepted;
      const { response, ms } = await call("GET", path);

      expect(response.statusCode).toBe(503);
      expect(JSON.parse(response.body ?? "{}").error.code).toBe("GOVERNANCE_UNAVAILABLE");
      expect(response.headers?.["retry-after"]).toBe("5");
      expect(ms).toBeLessThan(BOUND_MS);
      // It really tried the database (a fresh connection: a failed open is not cached).
      expect(hole.accepted).toBeGreaterThan(acceptedBefore);
    },
  );

  it("the marketplace carries on: agents register, bids are accepted and the task is awarded", async () => {
    const agents: string[] = [];
    for (const id of ["bh-ann", "bh-bob"]) {
      const queue = await useTestQueue(`blackhole-${id}`);
      const { response } = await call("POST", "/agents", {
        agent_id: id,
        capabilities: ["python"],
        cost_model: "green",
        bidding_endpoint: queue.queueUrl,
      });
      expect(response.statusCode).toBe(201);
      agents.push(id);
    }
    const repositories = buildRepositories(config);
    const { logger } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
    const { outcome } = await runBiddingRound(
      { tasks: repositories.tasks, bidding: repositories.bidding, awards: buildAwardService(config, logger) },
      [
        [agents[0] as string, 120],
        [agents[1] as string, 90],
      ],
      { title: "black hole", sentAt: new Date() },
    );
    expect(outcome).toMatchObject({ kind: "AWARDED", award: { agent_id: "bh-bob", status: "AWARDED" } });

    // Governance is still black-holed all the while.
    const { response, ms } = await call("GET", "/escrows");
    expect(response.statusCode).toBe(503);
    expect(ms).toBeLessThan(BOUND_MS);
  });
});

// The statement timeout is the server's, so it needs a real server (CI sets DATABASE_URL).
describe.skipIf(!process.env.DATABASE_URL)("the statement timeout on a PostgreSQL server", () => {
  it("a slow statement fails with 57014 as a store outage, and the pool keeps working", async () => {
    const client = createPgClient({
      connectionString: process.env.DATABASE_URL as string,
      ...pgPoolBounds({ max: 1, connectTimeoutMs: 2000, statementTimeoutMs: 200 }),
    });
    try {
      const started = performance.now();
      const error = await client.query("SELECT pg_sleep(5)").catch((e: unknown) => e);
      expect(performance.now() - started).toBeLessThan(BOUND_MS);
      expect(isStoreUnavailable(error)).toBe(true);
      expect(((error as Error).cause as { code?: string }).code).toBe("57014");
      await expect(client.transaction((tx) => tx.query("SELECT pg_sleep(5)"))).rejects.toSatisfy(
        isStoreUnavailable,
      );
      expect(await client.query<{ one: number }>("SELECT 1 AS one")).toEqual([{ one: 1 }]);
    } finally {
      await client.close();
    }
  });
});
