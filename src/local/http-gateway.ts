import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  APIGatewayRequestAuthorizerEventV2,
} from "aws-lambda";
import type { HttpRoute } from "../topology.js";
import { FunctionTimeoutError, LOCAL_ACCOUNT_ID, type LocalFunction } from "./function-runtime.js";

/** API Gateway's own limit on a request payload. */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export interface GatewayRoute {
  route: HttpRoute;
  fn: LocalFunction;
}

export interface HttpGatewayOptions {
  routes: readonly GatewayRoute[];
  /** Runs before every `auth: "token"` route, as the HTTP API's Lambda authorizer (simple responses). */
  authorizer?: LocalFunction;
  region: string;
  log: (line: string) => void;
}

export interface HttpGateway {
  /** Serves the routes from now on; until then every request gets 503. */
  open(options: HttpGatewayOptions): void;
  server: Server;
}

interface MatchedRoute extends GatewayRoute {
  pathParameters: Record<string, string>;
}

/** Matches an HTTP API route template: `{name}` is one segment, `{name+}` the rest of the path. */
export function matchRoutePath(template: string, path: string): Record<string, string> | undefined {
  const templateParts = template.split("/").slice(1);
  const pathParts = path.split("/").slice(1);
  const parameters: Record<string, string> = {};
  for (const [index, part] of templateParts.entries()) {
    const greedy = /^\{(.+)\+\}$/.exec(part);
    if (greedy?.[1]) {
      const rest = pathParts.slice(index).join("/");
      if (rest === "") return undefined;
      parameters[greedy[1]] = rest;
      return parameters;
    }
    const segment = pathParts[index];
    if (segment === undefined) return undefined;
    const single = /^\{(.+)\}$/.exec(part);
    if (single?.[1]) {
      if (segment === "") return undefined;
      parameters[single[1]] = segment;
    } else if (part !== segment) {
      return undefined;
    }
  }
  return templateParts.length === pathParts.length ? parameters : undefined;
}

/** The route API Gateway would pick: exact paths before templates, `{x}` before `{x+}`, then the method. */
export function selectRoute(
  routes: readonly GatewayRoute[],
  method: string,
  path: string,
): MatchedRoute | undefined {
  const specificity = (template: string) => (template.includes("+}") ? 2 : template.includes("{") ? 1 : 0);
  const candidates = routes
    .filter((r) => r.route.method === method || r.route.method === "ANY")
    .flatMap((r) => {
      const pathParameters = matchRoutePath(r.route.path, path);
      return pathParameters ? [{ ...r, pathParameters }] : [];
    })
    .sort(
      (a, b) =>
        specificity(a.route.path) - specificity(b.route.path) ||
        Number(a.route.method === "ANY") - Number(b.route.method === "ANY"),
    );
  return candidates[0];
}

const TEXT_CONTENT_TYPE = /^(text\/|application\/(json|.*\+json|x-www-form-urlencoded|xml|.*\+xml))/i;

/** Text bodies are passed as strings, anything else (or invalid UTF-8) base64-encoded, like API Gateway. */
function encodeBody(
  bytes: Buffer,
  contentType: string | undefined,
): { body?: string; isBase64Encoded: boolean } {
  if (bytes.length === 0) return { isBase64Encoded: false };
  if (contentType && TEXT_CONTENT_TYPE.test(contentType)) {
    try {
      return { body: new TextDecoder("utf-8", { fatal: true }).decode(bytes), isBase64Encoded: false };
    } catch {
      // Not valid UTF-8: fall through to base64, which keeps every byte for signature checks.
    }
  }
  return { body: bytes.toString("base64"), isBase64Encoded: true };
}

function lowerCaseHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(",") : value;
  }
  return headers;
}

function queryParameters(search: URLSearchParams): Record<string, string> | undefined {
  const parameters: Record<string, string> = {};
  for (const key of new Set(search.keys())) parameters[key] = search.getAll(key).join(",");
  return Object.keys(parameters).length > 0 ? parameters : undefined;
}

type ReadBody = { ok: true; bytes: Buffer } | { ok: false };

function readBody(request: IncomingMessage): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        request.removeAllListeners("data");
        request.resume();
        resolve({ ok: false });
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve({ ok: true, bytes: Buffer.concat(chunks) }));
    request.on("error", reject);
  });
}

function send(response: ServerResponse, result: APIGatewayProxyStructuredResultV2, requestId: string): void {
  const headers: Record<string, string | string[]> = { "apigw-requestid": requestId };
  for (const [name, value] of Object.entries(result.headers ?? {})) headers[name] = String(value);
  if (result.cookies?.length) headers["set-cookie"] = result.cookies;
  const body = result.body ?? "";
  const bytes = result.isBase64Encoded ? Buffer.from(body, "base64") : Buffer.from(body, "utf8");
  response.writeHead(result.statusCode ?? 200, headers);
  response.end(bytes);
}

const gatewayError = (statusCode: number, message: string): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ message }),
});

/** Payload format 2.0: a result without `statusCode` is a 200 with the value as its JSON body. */
function normaliseResult(result: unknown): APIGatewayProxyStructuredResultV2 {
  if (typeof result === "object" && result !== null && "statusCode" in result) {
    return result as APIGatewayProxyStructuredResultV2;
  }
  return {
    statusCode: 200,
    headers: { "content-type": "application/json" },
    body: typeof result === "string" ? result : JSON.stringify(result ?? null),
  };
}

/**
 * The HTTP API of the deployed stack, locally: a Node HTTP server that turns each request into the
 * payload-format-2.0 event API Gateway sends, runs the route's Lambda authorizer first where the
 * topology says so (401 without an Authorization header, 403 when refused), invokes the function and
 * writes its result back. Gateway errors keep API Gateway's bodies (`{"message": "Not Found"}`, …).
 *
 * The server is created unbound-to-routes so the caller can bind the port before anything slow
 * starts (a busy port fails at once); requests before {@link HttpGateway.open} get 503.
 */
export function createHttpGateway(): HttpGateway {
  let options: HttpGatewayOptions | undefined;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const requestId = randomUUID();
    if (!options) return send(response, gatewayError(503, "Service Unavailable"), requestId);
    const { routes, authorizer, region, log } = options;
    const method = (request.method ?? "GET").toUpperCase();
    // Prefixed, never resolved as a relative URL: `//x/agents` is a path, not a host named x.
    const target = request.url ?? "/";
    const url = new URL(`http://local${target.startsWith("/") ? target : `/${target}`}`);
    const matched = selectRoute(routes, method, url.pathname);
    if (!matched) return send(response, gatewayError(404, "Not Found"), requestId);

    const body = await readBody(request);
    if (!body.ok) return send(response, gatewayError(413, "Request Entity Too Large"), requestId);

    const headers = lowerCaseHeaders(request);
    const now = new Date();
    const routeKey = `${matched.route.method} ${matched.route.path}`;
    const queryStringParameters = queryParameters(url.searchParams);
    const requestContext: APIGatewayProxyEventV2["requestContext"] = {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: "local",
      domainName: headers.host ?? "localhost",
      domainPrefix: (headers.host ?? "localhost").split(".")[0] ?? "localhost",
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? "127.0.0.1",
        userAgent: headers["user-agent"] ?? "",
      },
      requestId,
      routeKey,
      stage: "$default",
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    };

    let authorizerContext: Record<string, unknown> | undefined;
    if (matched.route.auth === "token" && authorizer) {
      if (!headers.authorization) return send(response, gatewayError(401, "Unauthorized"), requestId);
      const authorizerEvent: APIGatewayRequestAuthorizerEventV2 = {
        version: "2.0",
        type: "REQUEST",
        routeArn: `arn:aws:execute-api:${region}:${LOCAL_ACCOUNT_ID}:local/$default/${method}${url.pathname}`,
        identitySource: [headers.authorization],
        routeKey,
        cookies: headers.cookie ? headers.cookie.split(/;\s*/) : [],
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        headers,
        ...(queryStringParameters ? { queryStringParameters } : {}),
        pathParameters: matched.pathParameters,
        requestContext,
      };
      try {
        const decision = (await authorizer.invoke(authorizerEvent)) as
          | { isAuthorized?: unknown; context?: Record<string, unknown> }
          | undefined;
        if (decision?.isAuthorized !== true) return send(response, gatewayError(403, "Forbidden"), requestId);
        // As API Gateway does: the authorizer's context reaches the function, never the client's.
        authorizerContext = decision.context ?? {};
      } catch (error) {
        log(`${authorizer.name} failed (${requestId}): ${(error as Error).message}`);
        return send(response, gatewayError(500, "Internal Server Error"), requestId);
      }
    }

    const event: APIGatewayProxyEventV2 = {
      version: "2.0",
      routeKey,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      ...(queryStringParameters ? { queryStringParameters } : {}),
      ...(Object.keys(matched.pathParameters).length > 0 ? { pathParameters: matched.pathParameters } : {}),
      requestContext: authorizerContext
        ? ({ ...requestContext, authorizer: { lambda: authorizerContext } } as typeof requestContext)
        : requestContext,
      ...encodeBody(body.bytes, headers["content-type"]),
    };
    try {
      send(response, normaliseResult(await matched.fn.invoke(event)), requestId);
    } catch (error) {
      log(
        `${matched.fn.name} failed on ${method} ${url.pathname} (${requestId}): ${(error as Error).message}`,
      );
      const timedOut = error instanceof FunctionTimeoutError;
      send(
        response,
        timedOut ? gatewayError(503, "Service Unavailable") : gatewayError(500, "Internal Server Error"),
        requestId,
      );
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) send(response, gatewayError(500, "Internal Server Error"), "unknown");
      else response.destroy();
    });
  });
  // A request Node's parser refuses (a raw non-ASCII path, oversized headers) still gets a JSON body,
  // as API Gateway answers such requests.
  server.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const body = JSON.stringify({ message: tooLarge ? "Request Header Fields Too Large" : "Bad Request" });
    socket.end(
      `HTTP/1.1 ${tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return {
    server,
    open(next) {
      options = next;
    },
  };
}
