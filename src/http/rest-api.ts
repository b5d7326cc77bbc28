import type { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { AgentService } from "../domain/agents/agent.service.js";
import type { AgentProfile } from "../domain/agents/agent.types.js";
import { isDomainError } from "../domain/errors.js";
import type { ApprovalService } from "../domain/governance/approval.service.js";
import type { EscrowService } from "../domain/governance/escrow.service.js";
import type { AuditVerification } from "../domain/governance/governance.types.js";
import type { LedgerService } from "../domain/ledger/ledger.service.js";
import type { TaskService } from "../domain/tasks/task.service.js";
import type { Task } from "../domain/tasks/task.types.js";
import { bearerMatches } from "./auth.js";
import { errorResponse, jsonResponse, responseForError } from "./responses.js";

export interface RestApiOptions {
  agents: AgentService;
  tasks: TaskService;
  ledger: LedgerService;
  /** Resolves the API bearer token (cached by the caller). */
  apiToken: () => Promise<string>;
  logger: Logger;
  /**
   * The Postgres-backed routes (approvals, escrow, audit), opened on first use. When it cannot be
   * opened, or Postgres fails mid-request, those routes answer 503 and every other route still works.
   */
  governance?: () => Promise<GovernanceApi>;
}

export interface GovernanceApi {
  approvals: ApprovalService;
  escrows: EscrowService;
  verifyAudit(): Promise<AuditVerification>;
}

/** Header naming who made a change (kill switch, approvals): recorded in the audit log. */
export const ACTOR_HEADER = "x-agentforge-actor";

/** The public view of a profile: everything documented, none of the bookkeeping. */
export function agentView(profile: AgentProfile) {
  const { performance_totals: _totals, version: _version, ...view } = profile;
  return view;
}

function taskView(task: Task) {
  const { version: _version, evidence: _evidence, ...rest } = task;
  return rest;
}

type Route = { name: string; params: string[] };

/** Matches `rawPath`, keeping each `{param}` segment percent-encoded until it is decoded here. */
function route(method: string, rawPath: string): Route | "method" | undefined {
  const table: Array<[string, RegExp, string]> = [
    ["GET", /^\/tasks\/([^/]+)\/ledger\/?$/, "taskLedger"],
    ["GET", /^\/tasks\/([^/]+)\/?$/, "task"],
    ["GET", /^\/agents\/([^/]+)\/ledger\/?$/, "agentLedger"],
    ["GET", /^\/agents\/([^/]+)\/?$/, "agent"],
    ["GET", /^\/agents\/?$/, "agentsByCapability"],
    ["POST", /^\/agents\/?$/, "registerAgent"],
    ["POST", /^\/agents\/([^/]+)\/rotate-secret\/?$/, "rotateSecret"],
    ["POST", /^\/agents\/([^/]+)\/kill\/?$/, "kill"],
    ["POST", /^\/agents\/([^/]+)\/revive\/?$/, "revive"],
    ["GET", /^\/approvals\/?$/, "approvals"],
    ["GET", /^\/approvals\/([^/]+)\/?$/, "approval"],
    ["POST", /^\/approvals\/([^/]+)\/approve\/?$/, "approve"],
    ["POST", /^\/approvals\/([^/]+)\/reject\/?$/, "reject"],
    ["GET", /^\/escrows\/?$/, "escrows"],
    ["GET", /^\/escrows\/([^/]+)\/?$/, "escrow"],
    ["POST", /^\/escrows\/([^/]+)\/resolve\/?$/, "resolveEscrow"],
    ["GET", /^\/audit\/verify\/?$/, "auditVerify"],
  ];
  let pathMatched = false;
  for (const [verb, pattern, name] of table) {
    const match = pattern.exec(rawPath);
    if (!match) continue;
    pathMatched = true;
    if (verb === method) return { name, params: match.slice(1) as string[] };
  }
  return pathMatched ? "method" : undefined;
}

function decodeParam(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** Registration bodies are small; anything larger is refused before parsing. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;

type Parsed = { ok: true; value: unknown } | { ok: false; response: APIGatewayProxyStructuredResultV2 };

/** Decodes and parses a JSON request body, or gives the precise 4xx response. */
function jsonBody(event: APIGatewayProxyEventV2, contentType: string | undefined): Parsed {
  if (!contentType || !/^application\/json\b/i.test(contentType)) {
    return {
      ok: false,
      response: errorResponse(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json"),
    };
  }
  const raw = Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8");
  if (raw.length > MAX_JSON_BODY_BYTES) {
    return {
      ok: false,
      response: errorResponse(413, "PAYLOAD_TOO_LARGE", `Body is larger than ${MAX_JSON_BODY_BYTES} bytes`),
    };
  }
  try {
    return { ok: true, value: JSON.parse(raw.toString("utf8")) as unknown };
  } catch {
    return { ok: false, response: errorResponse(400, "MALFORMED_JSON", "Body is not valid JSON") };
  }
}

const limitOf = (query: Record<string, string | undefined>) => {
  const raw = query.limit;
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 && n <= 100 ? n : Number.NaN;
};

/**
 * The bearer-token REST API: `GET /tasks/{url-encoded issue url}`, `GET /tasks/{…}/ledger`,
 * `GET /agents/{id}`, `GET /agents/{id}/ledger` (newest first, paginated), `GET /agents?capability=x`
 * (paginated), `POST /agents` (register or update; a new agent's bid secret is returned once),
 * `POST /agents/{id}/rotate-secret`, `POST /agents/{id}/kill` and `/revive` (optional body
 * `{ "reason" }`; who did it comes from the `X-AgentForge-Actor` header, default `api`);
 * governance: `GET /approvals?status=`, `GET /approvals/{id}`, `POST /approvals/{id}/approve` and
 * `/reject` (body `{ "reviewer", "note"? }`), `GET /escrows?task_id=&agent_id=&status=`,
 * `GET /escrows/{id}`, `POST /escrows/{id}/resolve` (body `{ "resolution": "release"|"refund",
 * "judge", "note"? }`), `GET /audit/verify`.
 * Errors are JSON `{ "error": { "code", "message" } }`.
 */
export function createRestApi({ agents, tasks, ledger, apiToken, logger, governance }: RestApiOptions) {
  const GOVERNANCE_ROUTES = new Set([
    "approvals",
    "approval",
    "approve",
    "reject",
    "escrows",
    "escrow",
    "resolveEscrow",
    "auditVerify",
  ]);

  async function governanceRoute(
    name: string,
    id: string | undefined,
    query: Record<string, string | undefined>,
    page: { limit?: number; cursor?: string },
    body: () => Parsed,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    if (!governance) {
      return errorResponse(503, "GOVERNANCE_UNAVAILABLE", "Governance (Postgres) is not configured");
    }
    const api = await governance();
    switch (name) {
      case "approvals": {
        const result = await api.approvals.list(query.status, page);
        return jsonResponse(200, { items: result.items, cursor: result.cursor ?? null });
      }
      case "approval":
        return jsonResponse(200, await api.approvals.get(id));
      case "approve":
      case "reject": {
        const parsed = body();
        if (!parsed.ok) return parsed.response;
        if (name === "approve") return jsonResponse(200, await api.approvals.approve(id, parsed.value));
        return jsonResponse(200, await api.approvals.reject(id, parsed.value));
      }
      case "escrows":
        return jsonResponse(200, {
          items: await api.escrows.list({
            ...(query.task_id ? { task_id: query.task_id } : {}),
            ...(query.agent_id ? { agent_id: query.agent_id } : {}),
            ...(query.status ? { status: query.status } : {}),
          }),
        });
      case "escrow":
        return jsonResponse(200, await api.escrows.get(id));
      case "resolveEscrow": {
        const parsed = body();
        if (!parsed.ok) return parsed.response;
        return jsonResponse(200, await api.escrows.resolve(id, parsed.value));
      }
      default: {
        const verification = await api.verifyAudit();
        return jsonResponse(200, verification);
      }
    }
  }

  return async function handle(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
    const method = event.requestContext?.http?.method ?? "GET";
    const rawPath = event.rawPath ?? "/";
    try {
      const headers = Object.fromEntries(
        Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
      );
      let token: string;
      try {
        token = await apiToken();
      } catch (error) {
        logger.error("API token unavailable", { error: error as Error });
        return errorResponse(
          503,
          "SERVICE_UNAVAILABLE",
          "The API token could not be loaded; try again shortly",
        );
      }
      if (!bearerMatches(headers.authorization, token)) {
        return {
          ...errorResponse(401, "UNAUTHORIZED", "A valid 'Authorization: Bearer <token>' header is required"),
          headers: { "content-type": "application/json; charset=utf-8", "www-authenticate": "Bearer" },
        };
      }
      const matched = route(method, rawPath);
      if (matched === undefined) return errorResponse(404, "NOT_FOUND", `No route for ${method} ${rawPath}`);
      if (matched === "method")
        return errorResponse(405, "METHOD_NOT_ALLOWED", `${method} is not allowed on ${rawPath}`);
      const params = matched.params.map(decodeParam);
      if (params.some((p) => p === undefined)) {
        return errorResponse(400, "VALIDATION_FAILED", "Path parameter is not valid percent-encoding");
      }
      const [id] = params as string[];
      const query = event.queryStringParameters ?? {};
      const limit = limitOf(query);
      if (Number.isNaN(limit))
        return errorResponse(400, "VALIDATION_FAILED", "limit must be a whole number from 1 to 100");
      const page = { ...(limit ? { limit } : {}), ...(query.cursor ? { cursor: query.cursor } : {}) };

      if (GOVERNANCE_ROUTES.has(matched.name)) {
        try {
          return await governanceRoute(matched.name, id, query, page, () =>
            jsonBody(event, headers["content-type"]),
          );
        } catch (error) {
          if (isDomainError(error)) throw error;
          // Postgres down or unreachable: governance waits, the marketplace carries on.
          logger.error("Governance route failed", { error: error as Error, method, rawPath });
          return errorResponse(
            503,
            "GOVERNANCE_UNAVAILABLE",
            "Governance (Postgres) is unavailable; try again shortly",
          );
        }
      }

      switch (matched.name) {
        case "task": {
          const record = await tasks.get(id);
          return jsonResponse(200, {
            task: taskView(record.task),
            // Delivery error text can carry AWS account and role details: ops read it in the logs/table.
            bids: record.bids.map(({ delivery_error: _error, ...bid }) => bid),
            award: record.award ?? null,
            ledger: record.ledger,
            rejections: record.rejections,
          });
        }
        case "taskLedger": {
          const record = await tasks.get(id);
          return jsonResponse(200, { task_id: record.task.task_id, ledger: record.ledger });
        }
        case "agent":
          return jsonResponse(200, agentView(await agents.get(id)));
        case "agentLedger": {
          await agents.get(id);
          const history = await ledger.agentHistory(id, page);
          return jsonResponse(200, { agent_id: id, items: history.items, cursor: history.cursor ?? null });
        }
        case "registerAgent": {
          const body = jsonBody(event, headers["content-type"]);
          if (!body.ok) return body.response;
          const { profile, created, secret } = await agents.register(body.value);
          // The bid-signing secret is in this one response, for a new agent only; never logged.
          return jsonResponse(created ? 201 : 200, {
            agent: agentView(profile),
            ...(secret !== undefined ? { bid_secret: secret } : {}),
          });
        }
        case "rotateSecret": {
          const { agent_id, secret } = await agents.rotateSecret(id);
          return jsonResponse(200, { agent_id, bid_secret: secret });
        }
        case "kill":
        case "revive": {
          let reason: unknown;
          if (event.body) {
            const parsed = jsonBody(event, headers["content-type"]);
            if (!parsed.ok) return parsed.response;
            reason = (parsed.value as { reason?: unknown } | null)?.reason;
          }
          const actor = `api:${headers[ACTOR_HEADER] ?? "token"}`;
          const profile = await agents.setKillSwitch(id, matched.name === "kill", {
            actor,
            ...(reason !== undefined ? { reason } : {}),
          });
          return jsonResponse(200, agentView(profile));
        }
        default: {
          if (!query.capability) {
            return errorResponse(400, "VALIDATION_FAILED", "Query parameter 'capability' is required");
          }
          const result = await agents.findByCapability(query.capability, page);
          return jsonResponse(200, { items: result.items, cursor: result.cursor ?? null });
        }
      }
    } catch (error) {
      const response = responseForError(error);
      if (response.statusCode === 500)
        logger.error("Read API failed", { error: error as Error, method, rawPath });
      return response;
    }
  };
}
