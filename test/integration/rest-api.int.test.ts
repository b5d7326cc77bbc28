import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { beforeAll, describe, expect, it } from "vitest";
import { createRestApi } from "../../src/http/rest-api.js";
import { createObservability } from "../../src/observability.js";
import { servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl, outcomeInput } from "../helpers/factories.js";
import { apiGet, apiPost, TEST_API_TOKEN, testAuthenticator } from "../helpers/http.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

const TOKEN = TEST_API_TOKEN;
const get = apiGet;
const post = apiPost;

describe("REST API over DynamoDB Local", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;
  let api: ReturnType<typeof createRestApi>;
  const agent = agentInput({ capabilities: ["python"] });
  const url = issueUrl(77_001);

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table);
    const { logger } = createObservability({ logLevel: "SILENT" });
    api = createRestApi({ ...services, authenticate: testAuthenticator(services.agentRepo), logger });
    await services.agents.register(agent, TEST_OPERATOR);
    await services.tasks.create({ task_id: url, title: "Read me", required_capabilities: ["python"] });
    await services.award({
      task_id: url,
      agent_id: agent.agent_id,
      bid_amount: 12,
      status: "AWARDED",
    });
    await services.ledger.recordOutcome(outcomeInput({ task_id: url, winning_agent_id: agent.agent_id }));
  });

  const body = (response: { body?: string }) => JSON.parse(response.body ?? "null");

  it("GET /tasks/{url-encoded issue url} returns the task with its bids, award and ledger", async () => {
    const response = await api(get(`/tasks/${encodeURIComponent(url)}`));

    expect(response.statusCode).toBe(200);
    expect(body(response)).toMatchObject({
      task: { task_id: url, title: "Read me", status: "AWARDED", latest_outcome_status: "SUCCESS" },
      bids: [],
      award: { agent_id: agent.agent_id, bid_amount: 12, status: "AWARDED" },
      ledger: [
        { type: "TASK_LEDGER_ENTRY", task_id: url, winning_agent_id: agent.agent_id, status: "SUCCESS" },
      ],
    });
    expect(body(response).task).not.toHaveProperty("version");
  });

  it("GET /tasks/{…}/ledger and GET /agents/{id} (with performance_history)", async () => {
    const ledger = await api(get(`/tasks/${encodeURIComponent(url)}/ledger`));
    const profile = await api(get(`/agents/${agent.agent_id}`));

    expect(body(ledger).ledger).toHaveLength(1);
    expect(profile.statusCode).toBe(200);
    expect(body(profile)).toMatchObject({
      agent_id: agent.agent_id,
      performance_history: { total_tasks_completed: 1, success_rate: 1 },
    });
    expect(body(profile)).not.toHaveProperty("performance_totals");
  });

  it("lists agents by capability and an agent's ledger, paginated", async () => {
    const byCapability = await api(get("/agents", TOKEN, { capability: "python", limit: "10" }));
    const history = await api(get(`/agents/${agent.agent_id}/ledger`, TOKEN, { limit: "5" }));

    expect(body(byCapability).items.map((a: { agent_id: string }) => a.agent_id)).toContain(agent.agent_id);
    expect(body(history)).toMatchObject({
      agent_id: agent.agent_id,
      items: [{ task_id: url }],
      cursor: null,
    });
  });

  it.each([
    ["no token", null],
    ["wrong token", "nope"],
    ["empty token", ""],
  ])("401 with %s", async (_label, token) => {
    const response = await api(get(`/agents/${agent.agent_id}`, token));

    expect(response.statusCode).toBe(401);
    expect(body(response)).toEqual({ error: { code: "UNAUTHORIZED", message: expect.any(String) } });
  });

  it.each([
    ["unknown agent", "/agents/nobody", 404, "NOT_FOUND"],
    ["unknown task", `/tasks/${encodeURIComponent(issueUrl(77_999))}`, 404, "NOT_FOUND"],
    ["task id that is not an issue URL", "/tasks/not-a-url", 400, "VALIDATION_FAILED"],
    ["bad percent-encoding", "/tasks/%E0%A4%A", 400, "VALIDATION_FAILED"],
    ["unsafe agent id", "/agents/%23evil", 400, "VALIDATION_FAILED"],
    ["unknown route", "/nothing-here", 404, "NOT_FOUND"],
  ])("%s → %s", async (_label, path, status, code) => {
    const response = await api(get(path));

    expect(response.statusCode).toBe(status);
    expect(body(response).error.code).toBe(code);
  });

  it("rejects a bad limit or cursor with 400, never 500", async () => {
    const badLimit = await api(get("/agents", TOKEN, { capability: "python", limit: "0" }));
    const badCursor = await api(get("/agents", TOKEN, { capability: "python", cursor: "%%%" }));

    expect([badLimit.statusCode, badCursor.statusCode]).toEqual([400, 400]);
  });

  it("POST /agents registers (201, bid secret once), updates (200, no secret) and validates", async () => {
    const input = agentInput({ capabilities: ["go"] });

    const created = await api(post("/agents", JSON.stringify(input)));
    const updated = await api(post("/agents", JSON.stringify({ ...input, cost_model: "orange" })));
    const fetched = await api(get(`/agents/${input.agent_id}`));

    expect(created.statusCode).toBe(201);
    const secret = body(created).bid_secret;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body(created).agent).toMatchObject({ agent_id: input.agent_id, capabilities: ["go"] });
    expect(updated.statusCode).toBe(200);
    expect(body(updated)).not.toHaveProperty("bid_secret");
    expect(body(updated).agent.cost_model).toBe("orange");
    expect(fetched.body).not.toContain(secret);
    expect(await services.agentRepo.getSecret(input.agent_id)).toBe(secret);
  });

  it.each([
    ["malformed JSON", post("/agents", "{nope"), 400, "MALFORMED_JSON"],
    [
      "a form body",
      post("/agents", "a=b", { "content-type": "application/x-www-form-urlencoded" }),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    ],
    [
      "an oversized body",
      post("/agents", JSON.stringify({ pad: "x".repeat(20_000) })),
      413,
      "PAYLOAD_TOO_LARGE",
    ],
    [
      "an invalid registration",
      post("/agents", JSON.stringify({ agent_id: "x", capabilities: [] })),
      400,
      "VALIDATION_FAILED",
    ],
    ["rotating an unknown agent", post("/agents/nobody-here/rotate-secret"), 404, "NOT_FOUND"],
    [
      "PUT on /agents",
      { ...post("/agents", "{}"), requestContext: { http: { method: "PUT" } } } as APIGatewayProxyEventV2,
      405,
      "METHOD_NOT_ALLOWED",
    ],
  ])("POST refuses %s with %s", async (_label, event, status, code) => {
    const response = await api(event);

    expect(response.statusCode).toBe(status);
    expect(body(response).error.code).toBe(code);
  });

  it("validation errors name each bad field", async () => {
    const response = await api(post("/agents", JSON.stringify({ ...agentInput(), cost_model: "red" })));

    expect(body(response).error.details).toEqual([
      { path: "cost_model", message: "must be one of green, yellow, orange" },
    ]);
  });

  it("rotates the secret and kills and revives an agent", async () => {
    const input = agentInput({ capabilities: ["elixir"] });
    const first = body(await api(post("/agents", JSON.stringify(input)))).bid_secret;

    const rotated = await api(post(`/agents/${input.agent_id}/rotate-secret`));
    const killed = await api(post(`/agents/${input.agent_id}/kill`));
    const listedWhileKilled = body(await api(get("/agents", TOKEN, { capability: "elixir" }))).items;
    const revived = await api(post(`/agents/${input.agent_id}/revive`));

    expect(body(rotated)).toEqual({
      agent_id: input.agent_id,
      bid_secret: expect.not.stringMatching(first),
      previous_valid_until: expect.any(String),
    });
    expect(body(killed).kill_switch_active).toBe(true);
    expect(listedWhileKilled).toEqual([]);
    expect(body(revived).kill_switch_active).toBe(false);
  });

  it("rotate-secret?previous=revoke drops the old secret at once; another value is a 400", async () => {
    const input = agentInput({ capabilities: ["elixir"] });
    await api(post("/agents", JSON.stringify(input)));
    const withQuery = (previous: string) => ({
      ...post(`/agents/${input.agent_id}/rotate-secret`),
      rawQueryString: `previous=${previous}`,
      queryStringParameters: { previous },
    });

    const revoked = await api(withQuery("revoke"));
    const refused = await api(withQuery("maybe"));

    expect(revoked.statusCode).toBe(200);
    expect(body(revoked)).toEqual({ agent_id: input.agent_id, bid_secret: expect.any(String) });
    expect(refused.statusCode).toBe(400);
    expect(body(refused).error.code).toBe("VALIDATION_FAILED");
  });

  it.each([
    ["a NUL in a path parameter", get("/agents/a%00b"), 400],
    [
      "a control character in a task id",
      get(`/tasks/${encodeURIComponent("https://github.com/o/r/issues/1\u0007")}`),
      400,
    ],
    ["invalid percent-encoding", get("/agents/%E0%A4%A"), 400],
    ["a NUL in a filter", get("/agents", TOKEN, { capability: "py\u0000" }), 400],
    ["an unknown query parameter", get("/agents", TOKEN, { capability: "python", sort: "x" }), 400],
    ["a limit out of range", get(`/agents/${agent.agent_id}/ledger`, TOKEN, { limit: "1000" }), 400],
    ["a cursor with a NUL", get(`/agents/${agent.agent_id}/ledger`, TOKEN, { cursor: "\u0000" }), 400],
    ["a body on a route that takes none", { ...get(`/agents/${agent.agent_id}`), body: "{}" }, 400],
    ["DELETE on a known path", { ...get("/agents"), requestContext: { http: { method: "DELETE" } } }, 405],
    ["an unknown method", { ...get("/agents"), requestContext: { http: { method: "PROPFIND" } } }, 405],
    ["an unknown path", get("/nothing/here"), 404],
    ["a path parameter that is blank once decoded", get("/agents/%20"), 400],
    [
      "a header value a web Request cannot carry",
      {
        ...get("/agents", TOKEN, { capability: "python" }),
        headers: { ...get("/x").headers, "user-agent": "a\u0000b" },
      },
      400,
    ],
  ] as Array<[string, APIGatewayProxyEventV2, number]>)(
    "refuses %s with a %s in the one error shape",
    async (_label, event, status) => {
      const response = await api(event);

      expect(response.statusCode).toBe(status);
      expect(body(response)).toEqual({
        error: {
          code: expect.any(String),
          message: expect.any(String),
          ...(status === 400 && body(response).error.details ? { details: expect.anything() } : {}),
        },
      });
    },
  );

  it("a client-sent actor is refused on the kill switch and changes nothing", async () => {
    const response = await api(
      post(`/agents/${agent.agent_id}/kill`, JSON.stringify({ reason: "x", actor: "mallory" })),
    );

    expect(response.statusCode).toBe(400);
    expect((await services.agentRepo.getProfile(agent.agent_id))?.kill_switch_active).toBe(false);
  });

  it("routes on the request path alone, whatever Host and X-Forwarded-Proto say", async () => {
    const event = get(`/agents/${agent.agent_id}`);
    const response = await api({
      ...event,
      headers: { ...event.headers, host: "x/agents/someone-else?", "x-forwarded-proto": "gopher" },
    });

    expect(response.statusCode).toBe(200);
    expect(body(response).agent_id).toBe(agent.agent_id);
  });
});
