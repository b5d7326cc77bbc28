import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { UnsafeEndpointError } from "../../src/adapters/endpoints/ssrf.js";
import type { BidRequest } from "../../src/domain/bidding/messages.js";
import { NonRetryableError } from "../../src/domain/bidding/retry.js";
import type { AgentEndpoint, EndpointSender } from "../../src/ports/endpoint-sender.js";

const SECRET = "agent-secret-for-tests";
const NOW = new Date("2025-07-01T12:00:00Z");

const message: BidRequest = {
  type: "BID_REQUEST",
  task_id: "https://github.com/octo-org/octo-repo/issues/7",
  agent_id: "agent-1",
  title: "Fix the flaky test",
  capabilities: ["python"],
  budget: null,
  deadline: "2025-07-01T12:05:00.000Z",
  reply_to: "https://sqs.us-east-1.amazonaws.com/123456789012/agentforge-bids",
};

interface Hit {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A plain HTTP agent endpoint on 127.0.0.1 whose answer each test chooses. */
let server: Server;
let port: number;
let hits: Hit[];
let answer: (res: ServerResponse) => void;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      hits.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  hits = [];
  answer = (res) => res.writeHead(204).end();
});

function endpoint(url: string): AgentEndpoint {
  return { agent_id: "agent-1", bidding_endpoint: url, endpoint_kind: "https" };
}

const local = () => createHttpsEndpointSender({ allowLoopback: true, now: () => NOW, timeoutMs: 500 });

describe("HTTPS endpoint sender", () => {
  it("POSTs the sealed JSON message (protocol v2) with its HMAC signature header", async () => {
    await local().send(endpoint(`http://127.0.0.1:${port}/agentforge/bids?k=v`), message, SECRET);

    expect(hits).toHaveLength(1);
    const [hit] = hits;
    expect(hit?.method).toBe("POST");
    expect(hit?.url).toBe("/agentforge/bids?k=v");
    expect(hit?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(hit?.body ?? "")).toEqual({
      ...message,
      sent_at: NOW.toISOString(),
      nonce: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
    const mac = createHmac("sha256", SECRET)
      .update(hit?.body ?? "")
      .digest("hex");
    expect(hit?.headers["x-agentforge-signature"]).toBe(`sha256=${mac}`);
  });

  it("treats 5xx as a retryable failure naming only status and host", async () => {
    answer = (res) => res.writeHead(500).end("boom");

    const error = await local()
      .send(endpoint(`http://127.0.0.1:${port}/bids?token=abc`), message, SECRET)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(NonRetryableError);
    expect((error as Error).message).toBe(`HTTP 500 from 127.0.0.1:${port}`);
  });

  it.each([
    [429, false],
    [408, false],
    [404, true],
    [401, true],
    [302, true],
  ])("HTTP %i fails; non-retryable: %s; redirects are not followed", async (status, final) => {
    answer = (res) => res.writeHead(status, { location: "http://169.254.169.254/" }).end();

    const error = await local()
      .send(endpoint(`http://127.0.0.1:${port}/bids`), message, SECRET)
      .catch((e: unknown) => e);

    expect((error as Error).message).toBe(`HTTP ${status} from 127.0.0.1:${port}`);
    expect(error instanceof NonRetryableError).toBe(final);
    expect(hits).toHaveLength(1);
  });

  it("gives up on an endpoint that does not answer within the timeout", async () => {
    answer = () => {};
    const sender = createHttpsEndpointSender({ allowLoopback: true, timeoutMs: 150 });
    const started = Date.now();

    await expect(sender.send(endpoint(`http://127.0.0.1:${port}/slow`), message, SECRET)).rejects.toThrow(
      `timed out after 150 ms (127.0.0.1:${port})`,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("refuses loopback outside local mode before connecting", async () => {
    const sender = createHttpsEndpointSender({ timeoutMs: 500 });

    await expect(sender.send(endpoint(`http://127.0.0.1:${port}/bids`), message, SECRET)).rejects.toThrow(
      UnsafeEndpointError,
    );
    await expect(sender.send(endpoint(`https://127.0.0.1:${port}/bids`), message, SECRET)).rejects.toThrow(
      /loopback/,
    );
    expect(hits).toHaveLength(0);
  });

  it("connects to the address it vetted: a name resolved to loopback reaches this server", async () => {
    const resolved: string[] = [];
    const sender = createHttpsEndpointSender({
      allowLoopback: true,
      timeoutMs: 500,
      resolve: async (hostname) => {
        resolved.push(hostname);
        return [{ address: "127.0.0.1", family: 4 }];
      },
    });

    await sender.send(endpoint(`http://agent.test:${port}/bids`), message, SECRET);

    expect(resolved).toEqual(["agent.test"]);
    expect(hits.map((h) => h.headers.host)).toEqual([`agent.test:${port}`]);
  });

  it("refuses a host name that resolves to a private or metadata address, before any connection", async () => {
    const metadata = createHttpsEndpointSender({
      timeoutMs: 500,
      resolve: async () => [{ address: "169.254.169.254", family: 4 }],
    });
    const rebinding = createHttpsEndpointSender({
      allowLoopback: true,
      timeoutMs: 500,
      resolve: async () => [
        { address: "127.0.0.1", family: 4 },
        { address: "10.1.2.3", family: 4 },
      ],
    });

    const first = await metadata
      .send(endpoint("https://agent.example/bids"), message, SECRET)
      .catch((e: unknown) => e);
    const second = await rebinding
      .send(endpoint(`http://agent.test:${port}/bids`), message, SECRET)
      .catch((e: unknown) => e);

    expect(first).toBeInstanceOf(UnsafeEndpointError);
    expect((first as Error).message).toBe(
      "endpoint host agent.example resolves to 169.254.169.254 (link-local)",
    );
    expect(second).toBeInstanceOf(UnsafeEndpointError);
    expect(hits).toHaveLength(0);
  });

  it("never puts the secret or the signature in an error", async () => {
    answer = (res) => res.writeHead(500).end(SECRET);

    const error = (await local()
      .send(endpoint(`http://127.0.0.1:${port}/bids`), message, SECRET)
      .catch((e: unknown) => e)) as Error;

    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain("sha256=");
  });
});

describe("composite endpoint sender", () => {
  function recording(name: string, fail?: Error) {
    const calls: string[] = [];
    const sender: EndpointSender = {
      async send(target) {
        calls.push(`${name}:${target.agent_id}`);
        if (fail) throw fail;
      },
    };
    return { calls, sender };
  }

  it("routes by endpoint kind", async () => {
    const sqs = recording("sqs");
    const https = recording("https");
    const sender = createEndpointSender({ sqs: sqs.sender, https: https.sender });

    await sender.send(
      {
        agent_id: "q",
        endpoint_kind: "sqs",
        bidding_endpoint: "https://sqs.us-east-1.amazonaws.com/1/q",
      },
      message,
      SECRET,
    );
    await sender.send(endpoint("https://agent.example/bids"), message, SECRET);

    expect(sqs.calls).toEqual(["sqs:q"]);
    expect(https.calls).toEqual(["https:agent-1"]);
  });

  it("marks SQS errors retrying cannot fix as non-retryable and leaves the rest alone", async () => {
    const missing = Object.assign(new Error("The specified queue does not exist."), {
      name: "QueueDoesNotExist",
    });
    const throttled = Object.assign(new Error("Rate exceeded"), { name: "RequestThrottled" });
    const target: AgentEndpoint = {
      agent_id: "q",
      endpoint_kind: "sqs",
      bidding_endpoint: "https://sqs.us-east-1.amazonaws.com/1/q",
    };
    const https = recording("https").sender;

    const final = await createEndpointSender({ sqs: recording("sqs", missing).sender, https })
      .send(target, message, SECRET)
      .catch((e: unknown) => e);
    const transient = await createEndpointSender({ sqs: recording("sqs", throttled).sender, https })
      .send(target, message, SECRET)
      .catch((e: unknown) => e);

    expect(final).toBeInstanceOf(NonRetryableError);
    expect((final as Error).message).toBe("QueueDoesNotExist: The specified queue does not exist.");
    expect(transient).toBe(throttled);
  });
});
