import { randomUUID } from "node:crypto";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createEndpointProber } from "../../src/adapters/endpoints/endpoint-prober.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import type { AgentEndpoint } from "../../src/ports/endpoint-sender.js";
import { type TestQueue, useTestQueue } from "../helpers/sqs.js";

/** A plain HTTP server on 127.0.0.1 that records every connection and request it gets. */
interface TestServer {
  base: string;
  connections: number;
  requests: Array<{ method: string | undefined; path: string | undefined; bodyBytes: number }>;
  close(): Promise<void>;
}

async function startServer(answer: (path: string, res: ServerResponse) => void): Promise<TestServer> {
  const server: Server = createServer((req, res) => {
    let bodyBytes = 0;
    req.on("data", (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    req.on("end", () => {
      state.requests.push({ method: req.method, path: req.url, bodyBytes });
      answer(req.url ?? "", res);
    });
  });
  server.on("connection", () => {
    state.connections += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const state: TestServer = {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: 0,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return state;
}

/** A port nothing listens on: bound, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const https = (url: string): AgentEndpoint => ({
  agent_id: "agent-h",
  bidding_endpoint: url,
  endpoint_kind: "https",
});
const sqs = (url: string): AgentEndpoint => ({
  agent_id: "agent-q",
  bidding_endpoint: url,
  endpoint_kind: "sqs",
});

describe("endpoint prober, SQS endpoints on the emulator", () => {
  let queue: TestQueue;

  beforeAll(async () => {
    queue = await useTestQueue("probe");
  });

  it("reports an existing queue as up", async () => {
    const prober = createEndpointProber({ allowLoopback: true, sqsClient: queue.client });

    const result = await prober.probe(sqs(queue.queueUrl));

    expect(result).toEqual({ ok: true, status_code: 200, latency_ms: expect.any(Number) });
    expect(Number.isInteger(result.latency_ms)).toBe(true);
    expect(result.latency_ms).toBeGreaterThanOrEqual(0);
    expect(await queue.drain()).toEqual([]);
  });

  it("reports a queue that does not exist as down, naming the error", async () => {
    const prober = createEndpointProber({ allowLoopback: true, sqsClient: queue.client });
    const missing = queue.queueUrl.replace(/[^/]+$/, `agentforge-missing-${randomUUID().slice(0, 8)}`);

    const result = await prober.probe(sqs(missing));

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/QueueDoesNotExist|NonExistentQueue/);
    expect(result.error).not.toContain("agentforge-missing");
  });

  it("bounds a queue endpoint that never answers by the timeout", async () => {
    const silent = await startServer(() => {});
    try {
      const prober = createEndpointProber({
        allowLoopback: true,
        timeoutMs: 250,
        sqsClient: createSqsClient({ endpoint: silent.base, requireLocal: true }),
      });

      const result = await prober.probe(sqs(`${silent.base}/000000000000/agent-queue`));

      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/^timed out after 250 ms/);
      expect(result.latency_ms).toBeGreaterThanOrEqual(245);
      expect(result.latency_ms).toBeLessThan(2000);
      expect(silent.connections).toBeGreaterThan(0);
    } finally {
      await silent.close();
    }
  });

  it("refuses a loopback queue URL outside local mode without contacting it", async () => {
    const prober = createEndpointProber({ sqsClient: queue.client });

    const result = await prober.probe(sqs(queue.queueUrl));

    expect(result).toEqual({ ok: false, error: "not an SQS queue URL", latency_ms: expect.any(Number) });
  });
});

describe("endpoint prober, HTTPS endpoints (plain HTTP on loopback in local mode)", () => {
  let agent: TestServer;
  let target: TestServer;

  beforeAll(async () => {
    target = await startServer((_, res) => res.writeHead(200).end("landing"));
    agent = await startServer((path, res) => {
      if (path.startsWith("/ok"))
        res.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(100_000));
      else if (path === "/post-only") res.writeHead(405, { allow: "POST" }).end();
      else if (path === "/down") res.writeHead(503).end();
      else if (path === "/busy") res.writeHead(429).end();
      else if (path === "/redirect") res.writeHead(302, { location: `${target.base}/landing` }).end();
      // "/silent": never answers.
    });
  });

  afterAll(async () => {
    await Promise.all([agent.close(), target.close()]);
  });

  beforeEach(() => {
    agent.connections = 0;
    agent.requests = [];
    target.connections = 0;
    target.requests = [];
  });

  const local = (timeoutMs = 2000) => createEndpointProber({ allowLoopback: true, timeoutMs });

  it("reports a 200 as up with a bodiless GET", async () => {
    const result = await local().probe(https(`${agent.base}/ok?token=abc`));

    expect(result).toEqual({ ok: true, status_code: 200, latency_ms: expect.any(Number) });
    expect(agent.requests).toEqual([{ method: "GET", path: "/ok?token=abc", bodyBytes: 0 }]);
  });

  it("reports a 405 as up: the endpoint answered, it just takes POST only", async () => {
    expect(await local().probe(https(`${agent.base}/post-only`))).toMatchObject({
      ok: true,
      status_code: 405,
    });
  });

  it("reports a 503 and a 429 as down with the status and host only", async () => {
    const down = await local().probe(https(`${agent.base}/down`));
    const busy = await local().probe(https(`${agent.base}/busy`));

    expect(down).toMatchObject({
      ok: false,
      status_code: 503,
      error: `HTTP 503 from ${new URL(agent.base).host}`,
    });
    expect(busy).toMatchObject({ ok: false, status_code: 429 });
  });

  it("reports an endpoint that never answers as down after the timeout", async () => {
    const result = await local(200).probe(https(`${agent.base}/silent?secret=s3cr3t`));

    expect(result.ok).toBe(false);
    expect(result.status_code).toBeUndefined();
    expect(result.error).toMatch(/^timed out after 200 ms/);
    expect(result.error).not.toContain("s3cr3t");
    expect(result.latency_ms).toBeGreaterThanOrEqual(195);
    expect(result.latency_ms).toBeLessThan(2000);
  });

  it("reports a refused connection as down", async () => {
    const result = await local().probe(https(`http://127.0.0.1:${await freePort()}/bids`));

    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it("counts a 302 as up but never fetches the redirect target", async () => {
    const result = await local().probe(https(`${agent.base}/redirect`));

    expect(result).toMatchObject({ ok: true, status_code: 302 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(target.connections).toBe(0);
    expect(target.requests).toEqual([]);
  });

  it("refuses loopback outside local mode without opening a connection", async () => {
    const { port } = new URL(agent.base);
    const strict = createEndpointProber({
      timeoutMs: 2000,
      resolve: async () => [{ address: "127.0.0.1", family: 4 }],
    });

    const results = await Promise.all([
      strict.probe(https(`${agent.base}/ok`)),
      strict.probe(https(`https://127.0.0.1:${port}/ok?token=abc`)),
      strict.probe(https(`https://localhost:${port}/ok`)),
      strict.probe(https(`https://agent.example.com:${port}/ok`)),
    ]);

    for (const result of results) {
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/^UnsafeEndpointError: /);
      expect(result.error).not.toContain("token");
    }
    expect(results[1]?.error).toContain("loopback");
    expect(results[3]?.error).toContain("agent.example.com resolves to 127.0.0.1 (loopback)");
    expect(agent.connections).toBe(0);
  });

  it("measures latency with the injected clock, as a whole number of milliseconds", async () => {
    const ticks = [1000, 1234.6];
    const prober = createEndpointProber({ allowLoopback: true, now: () => ticks.shift() ?? 0 });

    expect(await prober.probe(https(`${agent.base}/ok`))).toMatchObject({ ok: true, latency_ms: 235 });
  });
});
