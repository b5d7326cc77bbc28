import { Router } from "@aws-lambda-powertools/event-handler/http";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { ForbiddenError, isStoreUnavailable } from "../domain/errors.js";
import type { Authenticate, AuthFailure } from "../domain/identity/authenticator.js";
import {
  actorOf,
  PRINCIPAL_CONTEXT_KEY,
  type Principal,
  principalFromActor,
} from "../domain/identity/principal.js";
import { errorResponse, jsonResponse, responseForError } from "./responses.js";
import { REST_ROUTES, RequestError, type RestDeps, type RestRoute, type RouteCall } from "./rest-routes.js";

export { agentView, type GovernanceApi, REST_ROUTES } from "./rest-routes.js";

export interface RestApiOptions extends RestDeps {
  /** Resolves a bearer token when the gateway's authorizer did not (direct invocations, tests). */
  authenticate: Authenticate;
  logger: Logger;
}

/** Registration bodies are small; anything larger is refused before parsing. */
export const MAX_JSON_BODY_BYTES = 16 * 1024;

/** Control characters (U+0000–U+001F, U+007F–U+009F): never valid in an identifier, filter or cursor. */
const CONTROL = /\p{Cc}/u;
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] as const;
type Method = (typeof METHODS)[number];

const UNAUTHORIZED_MESSAGES: Record<AuthFailure, string> = {
  missing: "A valid 'Authorization: Bearer <token>' header is required",
  malformed: "The Authorization header must be 'Bearer <token>'",
  unknown_token: "The bearer token is not valid",
  unknown_key: "The bearer token is not valid",
  expired_key: "The bearer token is not valid",
};

/** A client may retry a governance route after this long (Postgres back, or a new connection tried). */
const GOVERNANCE_RETRY_AFTER_SECONDS = "5";

function governanceUnavailable(): APIGatewayProxyStructuredResultV2 {
  const response = errorResponse(
    503,
    "GOVERNANCE_UNAVAILABLE",
    "Governance (Postgres) is unavailable; try again shortly",
  );
  return { ...response, headers: { ...response.headers, "retry-after": GOVERNANCE_RETRY_AFTER_SECONDS } };
}

function unauthorized(message: string): APIGatewayProxyStructuredResultV2 {
  const response = errorResponse(401, "UNAUTHORIZED", message);
  return { ...response, headers: { ...response.headers, "www-authenticate": "Bearer" } };
}

function jsonBody(event: APIGatewayProxyEventV2, required: boolean): unknown {
  const raw = Buffer.from(event.body ?? "", event.isBase64Encoded ? "base64" : "utf8");
  if (raw.length === 0 && !required) return undefined;
  const contentType = Object.entries(event.headers ?? {}).find(
    ([k]) => k.toLowerCase() === "content-type",
  )?.[1];
  if (!contentType || !/^application\/json\b/i.test(contentType)) {
    throw new RequestError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json");
  }
  if (raw.length > MAX_JSON_BODY_BYTES) {
    throw new RequestError(413, "PAYLOAD_TOO_LARGE", `Body is larger than ${MAX_JSON_BODY_BYTES} bytes`);
  }
  try {
    return JSON.parse(raw.toString("utf8")) as unknown;
  } catch {
    throw new RequestError(400, "MALFORMED_JSON", "Body is not valid JSON");
  }
}

function pageOf(query: Record<string, string>): RouteCall["page"] {
  const page: RouteCall["page"] = {};
  if (query.limit !== undefined) {
    const n = Number(query.limit);
    if (!/^\d{1,3}$/.test(query.limit) || n < 1 || n > 100) {
      throw new RequestError(400, "VALIDATION_FAILED", "limit must be a whole number from 1 to 100");
    }
    page.limit = n;
  }
  if (query.cursor !== undefined) {
    if (query.cursor.length === 0 || query.cursor.length > 2048) {
      throw new RequestError(400, "VALIDATION_FAILED", "cursor must be 1-2048 characters, as returned");
    }
    page.cursor = query.cursor;
  }
  return page;
}

/** Refuses the request unless the route's access rule lets this principal in (before anything is read). */
function authorize(route: RestRoute, principal: Principal, params: Record<string, string>): void {
  if (principal.kind === "operator" || route.access === "agent") return;
  if (route.access === "self" && params.agent_id === principal.agentId) return;
  const rule =
    route.access === "operator" ? "operators only" : "operators or the agent itself (its own agent_id)";
  throw new ForbiddenError(
    route.permission,
    `${actorOf(principal)} lacks permission ${route.permission}: ${route.permission} is for ${rule}`,
  );
}

/**
 * The REST API for operators and agents, on Powertools' HTTP `Router`. Each route in
 * {@link REST_ROUTES} declares its permission; this module turns the declaration into routes: the
 * principal (from the gateway authorizer's context, or the bearer token when invoked directly), the
 * access check, validation of every path parameter, query parameter and body before a handler runs,
 * and one error shape `{ "error": { "code", "message" } }` for every refusal.
 */
export function createRestApi({ authenticate, logger, ...deps }: RestApiOptions) {
  const app = new Router();
  const principals = new WeakMap<object, Principal>();

  for (const route of REST_ROUTES) {
    app.route(
      async ({ params, event }) => {
        const request = event as APIGatewayProxyEventV2;
        const principal = principals.get(request);
        if (!principal) throw new Error("request reached a route without a principal");
        for (const [name, value] of Object.entries(params)) {
          if (CONTROL.test(value)) {
            throw new RequestError(
              400,
              "VALIDATION_FAILED",
              `Path parameter ${name} contains a control character`,
            );
          }
        }
        authorize(route, principal, params);
        const query = queryOf(request, route);
        const body = route.body === "none" ? noBody(request) : jsonBody(request, route.body === "json");
        const result = await callRoute(route, { principal, params, query, page: pageOf(query), body, deps });
        return jsonResponse(result.status, result.body) as never;
      },
      { method: route.method, path: route.path },
    );
  }
  // The router answers a known path with the wrong method as "not found"; HTTP says 405.
  const methodsByPath = new Map<RestRoute["path"], Set<Method>>();
  for (const route of REST_ROUTES) {
    methodsByPath.set(route.path, (methodsByPath.get(route.path) ?? new Set()).add(route.method));
  }
  for (const [path, allowed] of methodsByPath) {
    const other = METHODS.filter((m) => !allowed.has(m));
    const allow = [...allowed].join(", ");
    app.route(
      async ({ req }) =>
        ({
          ...errorResponse(405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed here; use ${allow}`),
          headers: { "content-type": "application/json; charset=utf-8", allow },
        }) as never,
      { method: other, path },
    );
  }
  app.notFound(async (_error, { req }) => {
    const path = new URL(req.url).pathname;
    return errorResponse(404, "NOT_FOUND", `No route for ${req.method} ${path.slice(0, 200)}`) as never;
  });
  app.errorHandler(Error, async (error, { req }) => {
    if (error instanceof RequestError) return errorResponse(error.status, error.code, error.message) as never;
    if (isStoreUnavailable(error)) return governanceUnavailable() as never;
    // The router refuses a parameter that is blank once decoded (`/agents/%20`) before the route runs.
    if (error.name === "ParameterValidationError") {
      return errorResponse(400, "VALIDATION_FAILED", "Path parameter is empty once decoded") as never;
    }
    if (error instanceof URIError) {
      return errorResponse(400, "VALIDATION_FAILED", "Path parameter is not valid percent-encoding") as never;
    }
    const response = responseForError(error);
    if (response.statusCode === 500) {
      logger.error("REST API failed", { error, method: req.method, path: new URL(req.url).pathname });
    }
    return response as never;
  });

  async function callRoute(route: RestRoute, call: RouteCall) {
    if (!route.governance) return route.handle(call);
    try {
      return await route.handle(call);
    } catch (error) {
      // Postgres unreachable or too slow: the route answers 503 (the error handler), the marketplace
      // carries on. Any other failure stays what it is, a domain refusal or a logged 500.
      if (isStoreUnavailable(error)) {
        logger.warn("Governance unavailable", { error, permission: route.permission });
      }
      throw error;
    }
  }

  async function principalOf(
    event: APIGatewayProxyEventV2,
  ): Promise<Principal | APIGatewayProxyStructuredResultV2> {
    const context = (event.requestContext as { authorizer?: { lambda?: Record<string, unknown> } })
      ?.authorizer?.lambda;
    if (context && PRINCIPAL_CONTEXT_KEY in context) {
      return (
        principalFromActor(context[PRINCIPAL_CONTEXT_KEY]) ?? unauthorized("The bearer token is not valid")
      );
    }
    const header = Object.entries(event.headers ?? {}).find(
      ([k]) => k.toLowerCase() === "authorization",
    )?.[1];
    try {
      const result = await authenticate(header);
      return result.ok ? result.principal : unauthorized(UNAUTHORIZED_MESSAGES[result.reason]);
    } catch (error) {
      logger.error("Credentials unavailable", { error: error as Error });
      return errorResponse(503, "SERVICE_UNAVAILABLE", "Credentials could not be checked; try again shortly");
    }
  }

  return async function handle(
    event: APIGatewayProxyEventV2,
    context?: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> {
    try {
      const method = event.requestContext?.http?.method?.toUpperCase() ?? "GET";
      const principal = await principalOf(event);
      if (!("kind" in principal)) return principal;
      if (!(METHODS as readonly string[]).includes(method)) {
        return errorResponse(405, "METHOD_NOT_ALLOWED", "Use GET or POST");
      }
      // A web Request (what the router builds) cannot carry a GET or HEAD body.
      if ((method === "GET" || method === "HEAD") && event.body) {
        return errorResponse(400, "VALIDATION_FAILED", `${method} requests take no body`);
      }
      // The router needs a route key, a path, a query string and no null body; API Gateway always
      // sends them, direct invocations may not.
      const { body, ...rest } = event;
      const request: APIGatewayProxyEventV2 = {
        ...rest,
        version: "2.0",
        routeKey: event.routeKey ?? "$default",
        isBase64Encoded: event.isBase64Encoded === true,
        rawPath: event.rawPath ?? "/",
        rawQueryString: event.rawQueryString ?? "",
        // The router builds the URL it routes on from Host and X-Forwarded-Proto: the client's
        // values must not decide which route runs (API Gateway's rawPath does).
        headers: { ...event.headers, host: "api.local", "x-forwarded-proto": "https" },
        ...(body === null || body === undefined ? {} : { body }),
      };
      principals.set(request, principal);
      return await app.resolve(request, context ?? ({} as Context));
    } catch (error) {
      // Errors inside a route are answered by the router's error handler; what reaches here failed
      // while the request was turned into a web Request (e.g. a header value it cannot carry).
      if (error instanceof TypeError) {
        logger.warn("Request refused before routing", { error });
        return errorResponse(400, "BAD_REQUEST", "The request could not be read (headers, path or body)");
      }
      logger.error("REST API failed outside a route", { error: error as Error });
      return responseForError(error);
    }
  };
}

function queryOf(event: APIGatewayProxyEventV2, route: RestRoute): Record<string, string> {
  const query: Record<string, string> = {};
  const search = new URLSearchParams(event.rawQueryString ?? "");
  for (const key of new Set(search.keys())) {
    const values = search.getAll(key);
    if (!route.query.includes(key)) {
      throw new RequestError(
        400,
        "VALIDATION_FAILED",
        route.query.length > 0
          ? `Unknown query parameter ${JSON.stringify(key.slice(0, 64))}; this route takes ${route.query.join(", ")}`
          : "This route takes no query parameters",
      );
    }
    if (values.length > 1)
      throw new RequestError(400, "VALIDATION_FAILED", `Query parameter ${key} is repeated`);
    const value = values[0] as string;
    if (CONTROL.test(value)) {
      throw new RequestError(400, "VALIDATION_FAILED", `Query parameter ${key} contains a control character`);
    }
    query[key] = value;
  }
  return query;
}

function noBody(event: APIGatewayProxyEventV2): undefined {
  if (event.body) throw new RequestError(400, "VALIDATION_FAILED", "This route takes no request body");
  return undefined;
}
