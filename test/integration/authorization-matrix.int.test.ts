import { randomUUID } from "node:crypto";
import { ScanCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBStreamsClient } from "@aws-sdk/client-dynamodb-streams";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKeyReader } from "../../src/adapters/dynamo/api-key-reader.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createStreamRecordReader } from "../../src/adapters/dynamo/stream-reader.js";
import { pgFailureClass } from "../../src/adapters/postgres/pg-errors.js";
import { createSqsProjectionFailureQueue } from "../../src/adapters/sqs/projection-failure-queue.js";
import { createAwardService } from "../../src/domain/bidding/award.service.js";
import { createApprovalService } from "../../src/domain/governance/approval.service.js";
import { createApprovalPolicy } from "../../src/domain/governance/approval-policy.js";
import { createEscrowService } from "../../src/domain/governance/escrow.service.js";
import { classifyProjectionError } from "../../src/domain/governance/projection-failure.js";
import { createGovernanceProjector } from "../../src/domain/governance/projector.js";
import { createReplayService } from "../../src/domain/governance/replay.js";
import { createAuthenticator } from "../../src/domain/identity/authenticator.js";
import { createRestApi, REST_ROUTES } from "../../src/http/rest-api.js";
import type { RestRoute } from "../../src/http/rest-routes.js";
import { createObservability } from "../../src/observability.js";
import { eventsOfRecord } from "../../src/workers/governance-stream.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { TEST_API_TOKEN } from "../helpers/http.js";
import { openPgliteTestStore, type TestGovernanceStore } from "../helpers/postgres.js";
import { TEST_OPERATOR } from "../helpers/principals.js";
import { useTestQueue } from "../helpers/sqs.js";

/**
 * For every declared route, every kind of caller: the expected answer, and for every refusal raw
 * DynamoDB and Postgres reads showing that nothing changed. The rows are derived from REST_ROUTES, so
 * a route added without a request fixture here fails the test.
 */
type Caller = "operator" | "self" | "other" | "killed" | "none" | "wrong" | "rotated-out";
const CALLERS: readonly Caller[] = ["operator", "self", "other", "killed", "none", "wrong", "rotated-out"];

interface Subject {
  agentId: string;
  taskId: string;
}

/** A well-formed request per route, acting on `subject` (the agent and task the caller aims at). */
const REQUESTS: Record<string, (subject: Subject) => { path: string; body?: unknown; query?: string }> = {
  "GET /tasks/:task_id": (s) => ({ path: `/tasks/${encodeURIComponent(s.taskId)}` }),
  "GET /tasks/:task_id/ledger": (s) => ({ path: `/tasks/${encodeURIComponent(s.taskId)}/ledger` }),
  "GET /agents": () => ({ path: "/agents", query: "capability=matrix" }),
  "POST /agents": (s) => ({
    path: "/agents",
    body: {
      agent_id: s.agentId,
      capabilities: ["matrix", "rewritten"],
      cost_model: "orange",
      bidding_endpoint: "https://attacker.example.com/bids",
      wallet_address: "wallet-attacker",
    },
  }),
  "GET /agents/:agent_id": (s) => ({ path: `/agents/${s.agentId}` }),
  "GET /agents/:agent_id/ledger": (s) => ({ path: `/agents/${s.agentId}/ledger` }),
  "POST /agents/:agent_id/rotate-secret": (s) => ({ path: `/agents/${s.agentId}/rotate-secret` }),
  "POST /agents/:agent_id/rotate-key": (s) => ({ path: `/agents/${s.agentId}/rotate-key` }),
  "POST /agents/:agent_id/kill": (s) => ({ path: `/agents/${s.agentId}/kill`, body: { reason: "matrix" } }),
  "POST /agents/:agent_id/revive": (s) => ({
    path: `/agents/${s.agentId}/revive`,
    body: { reason: "matrix" },
  }),
  "GET /approvals": () => ({ path: "/approvals", query: "status=pending" }),
  "GET /approvals/:approval_id": () => ({ path: `/approvals/apr_${"0".repeat(24)}` }),
  "POST /approvals/:approval_id/approve": () => ({
    path: `/approvals/apr_${"0".repeat(24)}/approve`,
    body: {},
  }),
  "POST /approvals/:approval_id/reject": () => ({
    path: `/approvals/apr_${"0".repeat(24)}/reject`,
    body: {},
  }),
  "GET /escrows": () => ({ path: "/escrows" }),
  "GET /escrows/:escrow_id": () => ({ path: `/escrows/${randomUUID()}` }),
  "POST /escrows/:escrow_id/resolve": () => ({
    path: `/escrows/${randomUUID()}/resolve`,
    body: { resolution: "release" },
  }),
  "GET /audit/verify": () => ({ path: "/audit/verify" }),
  "POST /governance/replay": () => ({ path: "/governance/replay", query: "limit=5" }),
};

const keyOf = (route: RestRoute) => `${route.method} ${route.path}`;

/** What each caller must get: `allowed` (any answer but 401/403/5xx) or the refusal status. */
function expected(route: RestRoute, caller: Caller): "allowed" | 401 | 403 {
  if (caller === "none" || caller === "wrong" || caller === "rotated-out") return 401;
  if (caller === "operator") return "allowed";
  if (route.access === "operator") return 403;
  if (caller === "other") return 403;
  // The agent itself, kill-switched or not, may read what is its own; a kill-switched agent changes nothing.
  if (caller === "killed" && route.method === "POST") return 403;
  return "allowed";
}

describe("authorization matrix: every route × every principal", () => {
  let table: TestTable;
  let gov: TestGovernanceStore;
  let api: ReturnType<typeof createRestApi>;
  const keys: Record<"self" | "other" | "killed" | "rotated-out", string> = {} as never;
  const ids: Record<"self" | "other" | "killed" | "target" | "rotated", string> = {} as never;
  let selfTask: string;
  let killedTask: string;
  let targetTask: string;

  async function register(capability = "matrix") {
    const input = agentInput({ capabilities: [capability] });
    const services = servicesFor(table);
    const { apiKey } = await services.agents.register(input, TEST_OPERATOR);
    return { id: input.agent_id, key: apiKey as string };
  }

  /** Every item of the table and every governance row: what "nothing changed" is checked against. */
  async function snapshot() {
    const items: unknown[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await table.raw.send(
        new ScanCommand({
          TableName: table.tableName,
          ConsistentRead: true,
          ExclusiveStartKey: start as never,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    const sort = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).sort();
    const [audit, escrows, approvals] = await Promise.all([
      gov.client.query("SELECT * FROM audit_logs ORDER BY seq"),
      gov.client.query("SELECT * FROM escrows ORDER BY id"),
      gov.client.query("SELECT * FROM approval_requests ORDER BY id"),
    ]);
    return { items: sort(items), audit: sort(audit), escrows: sort(escrows), approvals: sort(approvals) };
  }

  function event(route: RestRoute, subject: Subject, token: string | undefined): APIGatewayProxyEventV2 {
    const request = (
      REQUESTS[keyOf(route)] as (s: Subject) => { path: string; body?: unknown; query?: string }
    )(subject);
    return {
      version: "2.0",
      routeKey: `${route.method} ${route.path}`,
      rawPath: request.path,
      rawQueryString: request.query ?? "",
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(request.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      requestContext: { http: { method: route.method, path: request.path } },
      ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEventV2;
  }

  beforeAll(async () => {
    table = await useTestTable();
    gov = await openPgliteTestStore();
    const services = servicesFor(table);
    const bidding = createBiddingRepository({ service: table.service });
    const { logger } = createObservability({ logLevel: "SILENT" });
    // The projector's failure store, empty: an operator's replay applies nothing and is audited.
    const failureQueue = await useTestQueue("matrix-failures");
    const replay = createReplayService({
      failures: createSqsProjectionFailureQueue({
        client: failureQueue.client,
        queueUrl: failureQueue.queueUrl,
      }),
      stream: createStreamRecordReader(
        new DynamoDBStreamsClient({
          endpoint: table.endpoint,
          region: "local",
          credentials: { accessKeyId: "local", secretAccessKey: "local" },
        }),
      ),
      projector: createGovernanceProjector({ store: gov.store, agents: services.agentRepo }),
      store: gov.store,
      eventsOf: eventsOfRecord,
      classify: (error) => classifyProjectionError(error, [pgFailureClass]),
    });
    const awards = createAwardService({
      tasks: services.taskRepo,
      bidding,
      agents: services.agentRepo,
      approval: createApprovalPolicy({}),
      logger,
    });
    // The rotated-out key is judged as of 11 minutes from now: past its 10-minute overlap.
    const authenticate = createAuthenticator({
      operators: async () => [{ name: "default", token: TEST_API_TOKEN }],
      // The authorizer's own reader, over the items the repository wrote.
      apiKeys: createApiKeyReader({ client: table.doc, table: table.tableName }),
      now: () => new Date(Date.now() + 11 * 60_000),
    });
    api = createRestApi({
      ...services,
      authenticate,
      logger,
      governance: async () => ({
        approvals: createApprovalService({ store: gov.store, tasks: services.taskRepo, awards, logger }),
        escrows: createEscrowService({ store: gov.store }),
        replay: (input) => replay.replay(input),
        verifyAudit: () => gov.store.verifyAudit(),
      }),
    });

    for (const who of ["self", "other", "killed", "target", "rotated"] as const) {
      const agent = await register();
      ids[who] = agent.id;
      if (who !== "target" && who !== "rotated") keys[who] = agent.key;
      if (who === "rotated") {
        keys["rotated-out"] = agent.key;
        await services.agents.rotateApiKey(agent.id, TEST_OPERATOR);
      }
    }
    await services.agents.setKillSwitch(ids.killed, true, TEST_OPERATOR, { reason: "matrix" });
    selfTask = issueUrl();
    killedTask = issueUrl();
    targetTask = issueUrl();
    for (const [task, invited] of [
      [selfTask, [ids.self]],
      [killedTask, [ids.killed]],
      [targetTask, [ids.target]],
    ] as const) {
      await services.tasks.create({ task_id: task, title: "matrix", required_capabilities: ["matrix"] });
      await bidding.invite(task, [...invited]);
    }
  });

  afterAll(async () => {
    await gov?.dispose();
  });

  it("has a request for every declared route, and every route declares a permission", () => {
    const missing = REST_ROUTES.map(keyOf).filter((key) => !(key in REQUESTS));
    expect(missing, "routes without a matrix row").toEqual([]);
    for (const route of REST_ROUTES) expect(route.permission).toMatch(/^[a-z-]+:[a-z-]+$/);
  });

  // Operators act last on each route (their calls change things), on an agent of their own.
  for (const route of REST_ROUTES) {
    it(`${keyOf(route)} (${route.permission}, ${route.access})`, async () => {
      const results: string[] = [];
      for (const caller of [...CALLERS.filter((c) => c !== "operator"), "operator" as const]) {
        const subject: Subject =
          caller === "self"
            ? { agentId: ids.self, taskId: selfTask }
            : caller === "killed"
              ? { agentId: ids.killed, taskId: killedTask }
              : caller === "operator"
                ? { agentId: ids.target, taskId: targetTask }
                : // Another agent (or nobody) aiming at the agent "self" and its task.
                  { agentId: ids.self, taskId: selfTask };
        const token =
          caller === "operator"
            ? TEST_API_TOKEN
            : caller === "none"
              ? undefined
              : caller === "wrong"
                ? "not-a-real-token-at-all"
                : keys[caller];
        const want = expected(route, caller);
        const before = want === "allowed" ? undefined : await snapshot();
        const response = await api(event(route, subject, token));
        const body = JSON.parse(response.body ?? "null") as { error?: { code: string; message: string } };
        results.push(`${caller}:${response.statusCode}`);
        expect(response.statusCode, `${caller} on ${keyOf(route)}: ${response.body}`).toBeLessThan(500);
        // The agent's own rotation is allowed: from here on it signs in with its new key.
        if (caller === "self" && keyOf(route) === "POST /agents/:agent_id/rotate-key") {
          keys.self = (body as unknown as { api_key: string }).api_key;
        }
        if (want === "allowed") {
          expect([401, 403], `${caller} on ${keyOf(route)}: ${response.body}`).not.toContain(
            response.statusCode,
          );
          continue;
        }
        expect(response.statusCode, `${caller} on ${keyOf(route)}: ${response.body}`).toBe(want);
        expect(body.error?.code).toBe(want === 401 ? "UNAUTHORIZED" : "FORBIDDEN");
        if (want === 403) expect(body.error?.message).toContain(route.permission);
        expect(await snapshot(), `${caller} on ${keyOf(route)} changed something`).toEqual(before);
      }
      expect(results).toHaveLength(CALLERS.length);
    });
  }
});
