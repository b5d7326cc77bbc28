import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { type AttributeValue, QueryCommand } from "@aws-sdk/client-dynamodb";
import { CreateQueueCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentMessage, Unsealed } from "../../examples/agent/src/protocol.js";
import { createDynamoClient } from "../../src/adapters/dynamo/client.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { REST_ROUTES } from "../../src/http/rest-routes.js";
import { OPERATORS_FILE } from "../../src/local/stack-files.js";
import { githubPayload } from "../fixtures/github.js";
import { sendSealedAgentMessage } from "../helpers/agent-messages.js";
import {
  eventually,
  nextSignedMessage,
  postWebhook,
  readRawItem,
  type SpawnedStack,
  spawnStack,
  stackRequest,
} from "../helpers/spawned-stack.js";

// biome-ignore lint/suspicious/noExplicitAny: tests read deep fields of API bodies and GitHub payloads.
type Json = any;
type RawItem = Record<string, AttributeValue>;

interface Agent {
  id: string;
  queueUrl: string;
  apiKey: string;
  /** The bid-signing secret the registration returned (never rotated in this file). */
  secret: string;
}

/** How long a rotated-out key keeps working in this stack (API_KEY_OVERLAP_SECONDS). */
const OVERLAP_SECONDS = 2;
/** The local gateway's own answer when the authorizer refuses a token (as API Gateway's). */
const GATEWAY_FORBIDDEN = { message: "Forbidden" };
const API_KEY = /^afk_[0-9a-f]{20}_[A-Za-z0-9_-]{43}$/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Identity and authorization on the running local stack (`npm start --in-memory` as a child process),
 * driven only through its HTTP API, its SQS endpoint and raw DynamoDB reads: operators (the default
 * token and named operators from operators.json), agents acting with their own API keys, key rotation
 * with its overlap, the kill switch; then a bounded fuzz of the whole REST surface.
 */
describe("npm start --in-memory: identity, authorization and a fuzzed REST API", () => {
  const run = randomBytes(4).toString("hex");
  /** A capability only this file's agents have, so only they are invited to its task. */
  const CAP = `idt-${run}`;
  let dataDir: string;
  let stack: SpawnedStack;
  let dynamo: ReturnType<typeof createDynamoClient>;
  let sqs: ReturnType<typeof createSqsClient>;

  // Shared by the story's steps, in order.
  let a: Agent;
  let b: Agent;
  let taskUrl: string;
  let escrowId: string | undefined;
  let aliceToken: string | undefined;
  /** A's key before its rotation, refused since its overlap ended. */
  let expiredKey: string | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "agentforge-identity-"));
    stack = await spawnStack({
      dataDir,
      inMemory: true,
      env: { API_KEY_OVERLAP_SECONDS: String(OVERLAP_SECONDS) },
    });
    dynamo = createDynamoClient({ endpoint: stack.endpoints.dynamodb_endpoint, requireLocal: true });
    sqs = createSqsClient({ endpoint: stack.endpoints.sqs_endpoint, requireLocal: true });
  }, 150_000);

  afterAll(async () => {
    dynamo?.destroy();
    sqs?.destroy();
    // Ctrl-C to the stack's process group; it must leave nothing running.
    const stopped = await stack?.interrupt();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    expect(stopped?.leftovers ?? false).toBe(false);
  }, 60_000);

  const operatorToken = () => stack.secrets.api_token;
  const as =
    (token: string | undefined) =>
    (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      stackRequest(stack, { method, path, token, body, ...(headers ? { headers } : {}) });
  const operator = (method: string, path: string, body?: unknown) => as(operatorToken())(method, path, body);

  const item = (pk: string, sk: string) => readRawItem(dynamo, stack.endpoints.table_name, pk, sk);

  const query = async (pk: string, skPrefix: string): Promise<RawItem[]> => {
    const { Items = [] } = await dynamo.send(
      new QueryCommand({
        TableName: stack.endpoints.table_name,
        KeyConditionExpression: "PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues: { ":pk": { S: pk }, ":sk": { S: skPrefix } },
        ConsistentRead: true,
      }),
    );
    return Items;
  };

  /**
   * The raw profile item once governance has written its trust back onto it (asynchronously, off
   * the table stream) and two reads in a row agree: what "unchanged" is compared against.
   */
  const settledProfile = (id: string) => {
    let previous: RawItem | undefined;
    const since = Date.now();
    return eventually(
      `${id}'s profile to settle`,
      async () => {
        const current = await item(`AGENT#${id}`, "PROFILE");
        const settled =
          (current?.trust_updated_at !== undefined || Date.now() - since > 3_000) &&
          previous !== undefined &&
          isDeepStrictEqual(previous, current);
        previous = current;
        return settled ? current : undefined;
      },
      15_000,
      300,
    );
  };

  const registration = (agent: Pick<Agent, "id" | "queueUrl">, extra: Record<string, unknown> = {}) => ({
    agent_id: agent.id,
    capabilities: [CAP],
    cost_model: "green",
    bidding_endpoint: agent.queueUrl,
    ...extra,
  });

  async function register(name: string, wallet: string): Promise<Agent> {
    const id = `${CAP}-${name}`;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `agent-${id}` }));
    const queueUrl = QueueUrl as string;
    const response = await operator(
      "POST",
      "/agents",
      registration({ id, queueUrl }, { wallet_address: wallet }),
    );
    expect(response.status).toBe(201);
    expect(response.body.agent).toMatchObject({ agent_id: id, kill_switch_active: false });
    expect(response.body.api_key).toMatch(API_KEY);
    expect(typeof response.body.bid_secret).toBe("string");
    return { id, queueUrl, apiKey: response.body.api_key, secret: response.body.bid_secret };
  }

  /** 403 FORBIDDEN from the API itself (the token was good, the permission is missing). */
  const expectForbidden = (response: { status: number; body: Json }, permission?: string) => {
    expect(response.status, JSON.stringify(response.body)).toBe(403);
    expect(response.body.error).toMatchObject({ code: "FORBIDDEN", message: expect.any(String) });
    if (permission) expect(response.body.error.message).toContain(permission);
  };

  const expectValidationFailed = (response: { status: number; body: Json }) => {
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.error).toMatchObject({ code: "VALIDATION_FAILED", message: expect.any(String) });
  };

  /** The next message on an agent's queue, its signature checked against the agent's secret. */
  const nextMessage = (agent: Agent, what: string) => nextSignedMessage<Json>(sqs, agent, what);

  /** A message on the bids queue sealed with `secret` (whoever's it is), as the agent kit seals it. */
  const sendSigned = (secret: string, message: Unsealed<AgentMessage>) =>
    sendSealedAgentMessage(sqs, stack.endpoints.bids_queue_url, message, secret);

  const bidItem = (agentId: string) => item(`TASK#${taskUrl}`, `BID#${agentId}`);
  const taskPath = () => `/tasks/${encodeURIComponent(taskUrl)}`;

  it("an operator registers agents A and B; each key authenticates as its own agent only", async () => {
    a = await register("a", "wallet-a-1");
    b = await register("b", "wallet-b-1");
    expect(a.apiKey).not.toBe(b.apiKey);

    const profileA = await item(`AGENT#${a.id}`, "PROFILE");
    expect(profileA).toMatchObject({
      updated_by: { S: "operator:default" },
      kill_switch_active: { BOOL: false },
      wallet_address: { S: "wallet-a-1" },
    });
    // Neither the key nor the bid secret is on the profile.
    expect(JSON.stringify(profileA)).not.toContain(a.apiKey);
    expect(JSON.stringify(profileA)).not.toContain(a.secret);

    const asA = as(a.apiKey);
    expect(await asA("GET", `/agents/${a.id}`)).toMatchObject({ status: 200, body: { agent_id: a.id } });
    expectForbidden(await asA("GET", `/agents/${b.id}`), "agents:read");
    expectForbidden(await asA("GET", `/agents/${b.id}/ledger`), "agents:read-ledger");
    expectForbidden(await asA("GET", `/agents?capability=${CAP}`), "agents:list");
    expectForbidden(await asA("GET", "/audit/verify"), "audit:verify");
    expectForbidden(await asA("GET", "/escrows"), "escrows:read");
    expectForbidden(await asA("GET", "/approvals"), "approvals:read");
    // Only operators register new agents.
    const intruder = { id: `${CAP}-c`, queueUrl: a.queueUrl };
    expectForbidden(await asA("POST", "/agents", registration(intruder)), "agents:register");
    expect(await item(`AGENT#${intruder.id}`, "PROFILE")).toBeUndefined();
  });

  it("A cannot rotate B's secret or key; B's original secret still signs a BID that is accepted", async () => {
    const secretBefore = await item(`AGENT#${b.id}`, "SECRET");
    const keyRefBefore = await item(`AGENT#${b.id}`, "APIKEY");
    // Stored sealed, never in clear (B's accepted bid below proves it is still the one B was given).
    expect(secretBefore?.secret_ciphertext?.S).toMatch(/^v1\./);
    expect(secretBefore).not.toHaveProperty("secret");
    expect(JSON.stringify(secretBefore)).not.toContain(b.secret);
    const asA = as(a.apiKey);
    expectForbidden(await asA("POST", `/agents/${b.id}/rotate-secret`), "agents:rotate-secret");
    expectForbidden(await asA("POST", `/agents/${b.id}/rotate-key`), "agents:rotate-key");
    expect(await item(`AGENT#${b.id}`, "SECRET")).toEqual(secretBefore);
    expect(await item(`AGENT#${b.id}`, "APIKEY")).toEqual(keyRefBefore);
    expect((await as(b.apiKey)("GET", `/agents/${b.id}`)).status).toBe(200);

    // A task for the test's capability, through a signed GitHub webhook (issues.opened).
    const issue: Json = githubPayload("issues", "opened");
    const number = 100_000 + Math.floor(Math.random() * 800_000);
    issue.issue.number = number;
    issue.issue.html_url = `https://github.com/Codertocat/Hello-World/issues/${number}`;
    issue.issue.labels = ["agentforge", `cap:${CAP}`, "budget:100"].map((name, id) => ({ id, name }));
    taskUrl = issue.issue.html_url;
    expect((await postWebhook(stack, "issues", issue)).status).toBe(202);
    await eventually("the TASK item", () => item(`TASK#${taskUrl}`, "TASK"));

    // Both are invited, each request signed with the secret its registration returned.
    const requestA = await nextMessage(a, "A's BID_REQUEST");
    const requestB = await nextMessage(b, "B's BID_REQUEST");
    expect(requestA).toMatchObject({ type: "BID_REQUEST", task_id: taskUrl, agent_id: a.id });
    expect(requestB).toMatchObject({ type: "BID_REQUEST", task_id: taskUrl, agent_id: b.id });

    // A forges a bid in B's name with its own secret: refused, and (protocol v2) nothing is written,
    // not even a rejection: only what B could have signed just now may reach B's task.
    await sendSigned(a.secret, {
      type: "BID",
      task_id: taskUrl,
      agent_id: b.id,
      bid_amount: 1,
      estimated_completion_sec: 60,
    });
    // A's real bid, queued after the forgery: once it is accepted, the forgery has been judged too.
    await sendSigned(a.secret, {
      type: "BID",
      task_id: taskUrl,
      agent_id: a.id,
      bid_amount: 50,
      estimated_completion_sec: 3600,
    });
    await eventually("A's ACCEPTED bid", async () => {
      const bid = await bidItem(a.id);
      return bid?.status?.S === "ACCEPTED" ? bid : undefined;
    });
    expect(await query(`REJECTIONS#${taskUrl}`, "REJECTION#")).toEqual([]);
    expect((await bidItem(b.id))?.status?.S).toBe("INVITED");

    // B's first bid is over the budget: B sealed it, so its rejection is recorded on the task.
    await sendSigned(b.secret, {
      type: "BID",
      task_id: taskUrl,
      agent_id: b.id,
      bid_amount: 150,
      estimated_completion_sec: 3600,
    });
    const [overBudget] = await eventually("B's over-budget bid's rejection", async () => {
      const items = await query(`REJECTIONS#${taskUrl}`, "REJECTION#");
      return items.length > 0 ? items : undefined;
    });
    expect(overBudget).toMatchObject({
      agent_id: { S: b.id },
      reason: { S: expect.stringMatching(/^OVER_BUDGET\b/) },
    });
    expect((await bidItem(b.id))?.status?.S).toBe("INVITED");

    // B's real bid, sealed with its original secret (never rotated: A's attempt was refused).
    await sendSigned(b.secret, {
      type: "BID",
      task_id: taskUrl,
      agent_id: b.id,
      bid_amount: 60,
      estimated_completion_sec: 3600,
    });
    const bidB = await eventually("B's ACCEPTED bid", async () => {
      const bid = await bidItem(b.id);
      return bid?.status?.S === "ACCEPTED" ? bid : undefined;
    });
    expect(bidB).toMatchObject({ agent_id: { S: b.id }, bid_amount: { N: "60" } });
  });

  it("A cannot change B's listing, approve, resolve an escrow or kill B; it sees only its own bid", async () => {
    const before = await settledProfile(b.id);
    const asA = as(a.apiKey);
    const changes: Array<[Record<string, unknown>, string]> = [
      [{ bidding_endpoint: a.queueUrl }, "agents:register"],
      [{ wallet_address: "mallory-wallet" }, "agents:register"],
      [{ capabilities: [CAP, "python"], cost_model: "orange" }, "agents:register"],
      [{ status: "suspended" }, "agents:set-status"],
      [{ kill_switch_active: true }, "agents:set-status"],
    ];
    for (const [change, permission] of changes) {
      expectForbidden(
        await asA("POST", "/agents", registration(b, { wallet_address: "wallet-b-1", ...change })),
        permission,
      );
    }

    // Governance decisions are operators' only, whatever the id or body.
    const approvalId = `apr_${randomBytes(12).toString("hex")}`;
    expectForbidden(await asA("POST", `/approvals/${approvalId}/approve`, {}), "approvals:decide");
    expectForbidden(await asA("POST", `/approvals/${approvalId}/reject`, { note: "no" }), "approvals:decide");
    expectForbidden(await asA("GET", `/approvals/${approvalId}`), "approvals:read");
    // Both bids are in, so the award (A's, the cheaper) is made and its escrow opened.
    const escrow = await eventually("the award's escrow", async () => {
      const { status, body } = await operator("GET", `/escrows?task_id=${encodeURIComponent(taskUrl)}`);
      expect(status).toBe(200);
      return body.items?.[0] as Json | undefined;
    });
    escrowId = escrow.id;
    expect(typeof escrowId).toBe("string");
    expect(escrow.status).toBe("pending");
    expectForbidden(
      await asA("POST", `/escrows/${escrowId}/resolve`, { resolution: "release" }),
      "escrows:resolve",
    );
    expectForbidden(await asA("POST", `/escrows/${randomUUID()}/resolve`, { resolution: "refund" }));
    expectForbidden(await asA("GET", `/escrows/${escrowId}`), "escrows:read");
    expect((await operator("GET", `/escrows/${escrowId}`)).body.status).toBe("pending");

    expectForbidden(await asA("POST", `/agents/${b.id}/kill`, { reason: "competition" }), "agents:kill");
    expectForbidden(await asA("POST", `/agents/${b.id}/kill`), "agents:kill");
    expectForbidden(await asA("POST", `/agents/${b.id}/revive`), "agents:revive");
    expectForbidden(await asA("POST", `/agents/${a.id}/kill`), "agents:kill");

    const after = await item(`AGENT#${b.id}`, "PROFILE");
    expect(after).toEqual(before);
    expect(after?.kill_switch_active).toEqual({ BOOL: false });

    // A's view of the task: its own bid only, never B's, and no rejections (B's name is on one).
    const viewA = await asA("GET", taskPath());
    expect(viewA.status).toBe(200);
    expect(viewA.body.bids).toHaveLength(1);
    expect(viewA.body.bids[0]).toMatchObject({ agent_id: a.id, bid_amount: 50 });
    expect(JSON.stringify(viewA.body.bids)).not.toContain(b.id);
    expect(viewA.body.rejections).toEqual([]);
    expect(viewA.body.bids[0]).not.toHaveProperty("delivery_error");
    // B likewise sees only its own; the operator sees everything.
    const viewB = await as(b.apiKey)("GET", taskPath());
    expect(viewB.body.bids.map((bid: Json) => bid.agent_id)).toEqual([b.id]);
    expect(viewB.body.rejections).toEqual([]);
    const full = await operator("GET", taskPath());
    expect(full.body.bids.map((bid: Json) => bid.agent_id).sort()).toEqual([a.id, b.id].sort());
    expect(full.body.rejections).toEqual([
      expect.objectContaining({ agent_id: b.id, reason: expect.stringMatching(/^OVER_BUDGET\b/) }),
    ]);
    // The ledger of a task is operators' only.
    expectForbidden(await asA("GET", `${taskPath()}/ledger`), "tasks:read-ledger");
  });

  it("A updates its own listing with its own key; the change is recorded as agent:<A>", async () => {
    const before = await settledProfile(a.id);
    const update = registration(a, {
      capabilities: [`${CAP}-extra`, CAP],
      cost_model: "yellow",
      wallet_address: "wallet-a-2",
    });
    const response = await as(a.apiKey)("POST", "/agents", update);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.agent).toMatchObject({
      agent_id: a.id,
      capabilities: [CAP, `${CAP}-extra`].sort(),
      cost_model: "yellow",
      wallet_address: "wallet-a-2",
      updated_by: `agent:${a.id}`,
    });
    // An update hands out no credentials.
    expect(response.body).not.toHaveProperty("api_key");
    expect(response.body).not.toHaveProperty("bid_secret");

    const raw = await item(`AGENT#${a.id}`, "PROFILE");
    expect(raw).toMatchObject({
      updated_by: { S: `agent:${a.id}` },
      wallet_address: { S: "wallet-a-2" },
      cost_model: { S: "yellow" },
      kill_switch_active: { BOOL: false },
      status: { S: "active" },
      version: { N: String(Number(before.version?.N) + 1) },
    });
    expect(raw?.capabilities?.SS?.slice().sort()).toEqual([CAP, `${CAP}-extra`].sort());
    expect(await item(`AGENT#${a.id}`, `CAP#${CAP}-extra`)).toBeDefined();

    // The audit chain stays intact (there is no route that reads audit rows themselves).
    const audit = await operator("GET", "/audit/verify");
    expect(audit.status).toBe(200);
    expect(audit.body.ok).toBe(true);
  });

  it("a named operator from operators.json acts under its own name; client-sent actors are refused", async () => {
    aliceToken = randomBytes(30).toString("base64url");
    expect(aliceToken).toHaveLength(40);
    const asAlice = as(aliceToken);
    // Unknown until the file names it: the gateway's authorizer refuses it.
    expect(await asAlice("GET", `/agents/${a.id}`)).toMatchObject({ status: 403, body: GATEWAY_FORBIDDEN });

    // Written whole, then moved into place: a half-written file would fail every operator sign-in.
    const file = join(dataDir, OPERATORS_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify({ alice: aliceToken }), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
    const written = Date.now();
    await eventually(
      "alice's token to work",
      async () => ((await asAlice("GET", `/agents/${a.id}`)).status === 200 ? true : undefined),
      5_000,
      100,
    );
    expect(Date.now() - written).toBeLessThan(4_000);
    // The default operator still works next to it.
    expect((await operator("GET", `/agents/${a.id}`)).status).toBe(200);

    const before = await settledProfile(b.id);
    // A body naming an actor is refused and changes nothing.
    const refused = await asAlice("POST", `/agents/${b.id}/kill`, { reason: "x", actor: "mallory" });
    expectValidationFailed(refused);
    expect(await item(`AGENT#${b.id}`, "PROFILE")).toEqual(before);

    // An X-AgentForge-Actor header is not who acted: the credentials are.
    const killed = await asAlice(
      "POST",
      `/agents/${b.id}/kill`,
      { reason: "identity test" },
      { "x-agentforge-actor": "mallory" },
    );
    expect(killed.status, JSON.stringify(killed.body)).toBe(200);
    expect(killed.body).toMatchObject({ agent_id: b.id, kill_switch_active: true });
    const raw = await item(`AGENT#${b.id}`, "PROFILE");
    expect(raw).toMatchObject({
      kill_switch_active: { BOOL: true },
      kill_switch_changed_by: { S: "operator:alice" },
      kill_switch_reason: { S: "identity test" },
    });
    expect(JSON.stringify(raw)).not.toContain("mallory");

    const killedProfile = await settledProfile(b.id);
    expectValidationFailed(
      await asAlice("POST", `/agents/${b.id}/revive`, { reason: "x", actor: "mallory" }),
    );
    expectValidationFailed(await asAlice("POST", `/agents/${b.id}/kill`, { actor: "operator:default" }));
    expect(await item(`AGENT#${b.id}`, "PROFILE")).toEqual(killedProfile);

    // Reviewer and judge come from the credentials too.
    const approvalId = `apr_${randomBytes(12).toString("hex")}`;
    expectValidationFailed(
      await asAlice("POST", `/approvals/${approvalId}/approve`, { reviewer: "mallory" }),
    );
    expectValidationFailed(
      await asAlice("POST", `/escrows/${escrowId}/resolve`, { resolution: "release", judge: "mallory" }),
    );
    expect((await operator("GET", `/escrows/${escrowId}`)).body.status).toBe("pending");
  });

  it("A rotates its key: the new key works at once, the old one until the overlap ends, then never", async () => {
    const oldKey = a.apiKey;
    const rotatedAt = Date.now();
    const rotated = await as(oldKey)("POST", `/agents/${a.id}/rotate-key`);
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect(rotated.body).toMatchObject({ agent_id: a.id, api_key: expect.stringMatching(API_KEY) });
    const newKey: string = rotated.body.api_key;
    expect(newKey).not.toBe(oldKey);
    const validUntil = Date.parse(rotated.body.previous_key_valid_until);
    expect(validUntil - rotatedAt).toBeGreaterThan(OVERLAP_SECONDS * 1000 - 1000);
    expect(validUntil - rotatedAt).toBeLessThan(OVERLAP_SECONDS * 1000 + 2000);

    expect((await as(newKey)("GET", `/agents/${a.id}`)).status).toBe(200);
    expect((await as(oldKey)("GET", `/agents/${a.id}`)).status).toBe(200);
    // Those two requests must have run inside the overlap for the check above to mean anything.
    expect(Date.now() - rotatedAt).toBeLessThan(OVERLAP_SECONDS * 1000);

    await sleep(Math.max(0, rotatedAt + OVERLAP_SECONDS * 1000 + 1000 - Date.now()));
    const refused = await as(oldKey)("GET", `/agents/${a.id}`);
    expect([401, 403]).toContain(refused.status);
    expect(refused.body).toEqual(refused.status === 403 ? GATEWAY_FORBIDDEN : { message: "Unauthorized" });
    expect((await as(oldKey)("POST", `/agents/${a.id}/rotate-key`)).body).toEqual(GATEWAY_FORBIDDEN);
    expect((await as(newKey)("GET", `/agents/${a.id}`)).status).toBe(200);
    a.apiKey = newKey;
    expiredKey = oldKey;
  });

  it("kill-switched B can read its own profile but not rotate its key or secret, nor update its listing", async () => {
    const before = await settledProfile(b.id);
    const secretBefore = await item(`AGENT#${b.id}`, "SECRET");
    const asB = as(b.apiKey);
    const own = await asB("GET", `/agents/${b.id}`);
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ agent_id: b.id, kill_switch_active: true });

    expectForbidden(await asB("POST", `/agents/${b.id}/rotate-key`), "agents:rotate-key");
    expectForbidden(await asB("POST", `/agents/${b.id}/rotate-secret`), "agents:rotate-secret");
    expectForbidden(
      await asB("POST", "/agents", registration(b, { wallet_address: "wallet-b-2" })),
      "agents:register",
    );
    expectForbidden(await asB("POST", `/agents/${b.id}/revive`), "agents:revive");
    expect(await item(`AGENT#${b.id}`, "PROFILE")).toEqual(before);
    expect(await item(`AGENT#${b.id}`, "SECRET")).toEqual(secretBefore);
    // Its key was not rotated: it still works (reading only).
    expect((await asB("GET", `/agents/${b.id}`)).status).toBe(200);
  });

  it("survives a fuzz of ≥ 10,000 requests: no 5xx, every refusal in the documented shape", async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const total = Number(process.env.FUZZ_REQUESTS ?? 10_000);
    console.log(`[fuzz] seed ${seed} (FUZZ_SEED=${seed} replays the same requests), ${total} requests`);

    // An agent of the fuzz's own (its key is fuzzed; whatever the fuzz does to it does not matter).
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `agent-${CAP}-f` }));
    const fuzzAgent = await operator(
      "POST",
      "/agents",
      registration({ id: `${CAP}-f`, queueUrl: QueueUrl as string }),
    );
    expect(fuzzAgent.status).toBe(201);
    // A cursor the API issued, for the fuzz to tamper with (A and the fuzz agent are listed).
    const page = await operator("GET", `/agents?capability=${CAP}&limit=1`);
    expect(page.status).toBe(200);
    const world: FuzzWorld = {
      operatorToken: operatorToken(),
      aliceToken,
      agentKeys: [a?.apiKey, b?.apiKey, fuzzAgent.body.api_key].filter((k): k is string => Boolean(k)),
      expiredKey,
      agentIds: [a?.id, b?.id, `${CAP}-f`].filter((k): k is string => Boolean(k)),
      capability: CAP,
      queueUrl: QueueUrl as string,
      taskUrl,
      escrowId,
      cursor: page.body.cursor ?? undefined,
      secrets: [a?.secret, b?.secret, fuzzAgent.body.bid_secret].filter((k): k is string => Boolean(k)),
    };

    const url = new URL(stack.endpoints.api_url);
    expect(["127.0.0.1", "localhost", "[::1]"]).toContain(url.hostname);
    const report = await runFuzz({
      host: url.hostname,
      port: Number(url.port),
      seed,
      total,
      concurrency: 16,
      budgetMs: 80_000,
      world,
    });
    console.log(formatReport(report));
    expect(report.unsendable, "requests the HTTP client refused to send (a generator bug)").toEqual([]);
    const offenders = report.offenders;
    expect(
      offenders.length,
      `${offenders.length} offending responses (seed ${seed}); the first 10:\n${offenders
        .slice(0, 10)
        .map((o) => `  ${describeOffender(o)}`)
        .join("\n")}\nby kind:\n${Object.entries(report.kinds)
        .map(([kind, { count }]) => `  ${count}× ${kind}`)
        .join("\n")}`,
    ).toBe(0);
    expect(report.sent, `only ${report.sent} requests in ${report.elapsedMs} ms`).toBeGreaterThanOrEqual(
      total,
    );
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Fuzz: a seeded generator of hostile requests, a bounded runner and the response oracle.
// ---------------------------------------------------------------------------------------------

interface FuzzWorld {
  operatorToken: string;
  aliceToken: string | undefined;
  agentKeys: string[];
  expiredKey: string | undefined;
  agentIds: string[];
  capability: string;
  queueUrl: string;
  taskUrl: string | undefined;
  escrowId: string | undefined;
  /** Bid-signing secrets of the agents: never in a response. */
  secrets: string[];
  /** A cursor the API issued (GET /agents?capability=…&limit=1). */
  cursor: string | undefined;
}

interface FuzzRequest {
  index: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** What was generated, for the report: token kind and body kind. */
  detail: string;
  /** A hostile Host or X-Forwarded-Proto header was sent. */
  hostile: boolean;
}

interface Offender {
  index: number;
  method: string;
  path: string;
  detail: string;
  status: number | string;
  excerpt: string;
}

interface FuzzReport {
  seed: number;
  sent: number;
  elapsedMs: number;
  byStatus: Record<string, number>;
  /** The gateway's own refusals (`{"message": …}`), per status. */
  gatewayByStatus: Record<string, number>;
  /** The API's `{ error: { code } }` refusals, per status and code. */
  codes: Record<string, number>;
  offenders: Offender[];
  /** Offenders grouped by what went wrong and the kind of request: count and first example. */
  kinds: Record<string, { count: number; example: Offender }>;
  unsendable: string[];
}

/** mulberry32: a tiny seeded PRNG, so a seed replays the same requests. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }
  /** One of `options`, with probability proportional to its weight. */
  weighted<T>(options: ReadonlyArray<readonly [number, () => T]>): T {
    const sum = options.reduce((s, [w]) => s + w, 0);
    let r = this.next() * sum;
    for (const [w, make] of options) {
      r -= w;
      if (r < 0) return make();
    }
    return (options[options.length - 1] as readonly [number, () => T])[1]();
  }
  chars(length: number, alphabet: string): string {
    let out = "";
    for (let i = 0; i < length; i += 1) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
  hex(length: number): string {
    return this.chars(length, "0123456789abcdef");
  }
  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i += 1) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

/** C0 controls and DEL (and, less often, the C1 controls U+0080–U+009F the README also refuses). */
const CONTROL_CHARS = `${Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join("")}\u007f\u007f\u007f\u0085\u009b`;
const ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const UNICODE = ["é", "漢", "😀", "\u202e", "\u200b", "\ufeff", "ﬀ", "İ", "\u0301", "Ω", "🏳️‍🌈", "\uffff"];
const PERCENT_GARBAGE = [
  "%",
  "%E0%A4%A",
  "%00",
  "%ZZ",
  "%%",
  "%C0%AF",
  "%ED%A0%80",
  "%F4%90%80%80",
  "%FF",
  "%2F",
  "%2e%2e",
  "%7F",
  "%1F",
  "%0A",
  "%0D%0A",
  "%u0041",
  "%E2%80%AE",
  "%EF%BB%BF",
  "%25",
  "%23",
  "%3F",
];
const RAW_PUNCTUATION = [
  "'",
  '"',
  "<script>",
  ";",
  "..",
  ".",
  "~",
  "!",
  "*",
  "()",
  "@",
  ":",
  "=",
  "+",
  "$",
  ",",
  "[]",
  "{}",
  "|",
  "\\",
  "^",
  "`",
  "#",
  "?",
];
const ODD_NAMES = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "null",
  "undefined",
  "NaN",
  "-1",
  "0",
  "1e309",
];
const METHODS = [
  [30, "GET"],
  [30, "POST"],
  [5, "PUT"],
  [5, "DELETE"],
  [5, "PATCH"],
  [5, "HEAD"],
  [5, "OPTIONS"],
  [2, "PROPFIND"],
  [1, "PROPPATCH"],
  [1, "MKCOL"],
  [1, "COPY"],
  [1, "MOVE"],
  [1, "LOCK"],
  [1, "UNLOCK"],
  [1, "SEARCH"],
  [1, "REPORT"],
  [1, "PURGE"],
  [1, "TRACE"],
  [1, "LINK"],
] as const;
const CONTENT_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "application/json; charset=utf-16",
  "APPLICATION/JSON",
  "application/jsonx",
  "application/json-patch+json",
  "text/json",
  "application/xml",
  "application/octet-stream",
  "*/*",
  "application/json, text/plain",
  "",
];

/**
 * Request `index` of the fuzz run `seed`: its own PRNG stream, so a seed replays every request
 * whatever the concurrency. Most requests are fuzzed in every dimension; about a third are a valid
 * call of a real route with exactly one dimension fuzzed, so the fuzz also reaches the handlers.
 */
function generateRequest(world: FuzzWorld, seed: number, index: number): FuzzRequest {
  const g = new Gen(prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0));
  const route = g.pick(REST_ROUTES);
  const mutated = g.chance(0.3)
    ? g.pick(["method", "path", "query", "body", "token", "content-type", "nothing"] as const)
    : undefined;
  const fuzzed = (dimension: NonNullable<typeof mutated>) => mutated === undefined || mutated === dimension;

  const method = fuzzed("method") ? g.weighted(METHODS.map(([w, m]) => [w, () => m] as const)) : route.method;
  const { value: token, kind: tokenKind } = fuzzed("token") ? fuzzToken(g, world) : validToken(g, world);
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = token;
  if (g.chance(0.05)) headers["x-agentforge-actor"] = g.pick(["mallory", "operator:default", "agent:x"]);
  // Headers a client controls locally (on AWS, API Gateway sets them): host and forwarding.
  const hostile = mutated === undefined && g.chance(0.02);
  if (hostile) {
    if (g.chance(0.5)) headers.host = g.pick(["a b", "[::", "a@b", "xn--", "x/agents?", "", "evil.example"]);
    else headers["x-forwarded-proto"] = g.pick(["a b", "http:", "file", "javascript", "", "https"]);
  }
  const generated = fuzzed("body") ? fuzzBody(g, world) : validBody(g, world, route);
  let contentType = generated.contentType;
  if (mutated === "content-type") contentType = g.chance(0.1) ? undefined : g.pick(CONTENT_TYPES);
  if (contentType !== undefined) headers["content-type"] = contentType;
  const path = fuzzed("path") ? fuzzPath(g, world) : validPath(g, world, route);
  const query = fuzzed("query") ? fuzzQuery(g, world) : validQuery(g, world, route);
  const details = [
    mutated ? `near-valid ${route.method} ${route.path}, fuzzed ${mutated}` : "fuzzed",
    `token=${tokenKind}`,
    `body=${generated.kind}`,
    ...(contentType !== undefined ? [`ct=${JSON.stringify(contentType)}`] : []),
    ...(hostile
      ? [
          `host=${JSON.stringify(headers.host)} x-forwarded-proto=${JSON.stringify(headers["x-forwarded-proto"])}`,
        ]
      : []),
  ];
  return {
    index,
    method,
    path: path + query,
    headers,
    ...(generated.body ? { body: generated.body } : {}),
    detail: details.join(" "),
    hostile,
  };
}

function validToken(g: Gen, world: FuzzWorld): { value: string; kind: string } {
  return g.weighted([
    [5, () => ({ kind: "operator", value: `Bearer ${world.operatorToken}` })],
    [4, () => ({ kind: "agent", value: `Bearer ${g.pick(world.agentKeys)}` })],
    [1, () => ({ kind: "alice", value: `Bearer ${world.aliceToken ?? world.operatorToken}` })],
  ]);
}

function validParam(g: Gen, world: FuzzWorld, name: string): string {
  switch (name) {
    case "agent_id":
      return g.pick(world.agentIds);
    case "task_id":
      return encodeURIComponent(world.taskUrl ?? `https://github.com/o/r/issues/${g.int(1, 999)}`);
    case "approval_id":
      return `apr_${g.hex(24)}`;
    default:
      return world.escrowId && g.chance(0.7) ? world.escrowId : randomUUID();
  }
}

function validPath(g: Gen, world: FuzzWorld, route: (typeof REST_ROUTES)[number]): string {
  return route.path.replace(/:([a-z_]+)/g, (_, name: string) => validParam(g, world, name));
}

function validQuery(g: Gen, world: FuzzWorld, route: (typeof REST_ROUTES)[number]): string {
  const parts: string[] = [];
  for (const key of route.query) {
    if (!g.chance(key === "capability" ? 0.9 : 0.4)) continue;
    const value = (() => {
      switch (key) {
        case "limit":
          return String(g.int(1, 100));
        case "cursor":
          return world.cursor ?? "x";
        case "capability":
          return world.capability;
        case "status":
          return route.path.startsWith("/approvals")
            ? g.pick(["pending", "approved", "rejected"])
            : g.pick(["pending", "released", "refunded", "disputed"]);
        case "task_id":
          return encodeURIComponent(world.taskUrl ?? "https://github.com/o/r/issues/1");
        default:
          return g.pick(world.agentIds);
      }
    })();
    parts.push(`${key}=${value}`);
  }
  return parts.length > 0 ? `?${parts.join("&")}` : "";
}

function validBody(
  g: Gen,
  world: FuzzWorld,
  route: (typeof REST_ROUTES)[number],
): { body?: Buffer; kind: string; contentType?: string } {
  const json = (value: unknown) => ({
    body: Buffer.from(JSON.stringify(value), "utf8"),
    kind: "valid",
    contentType: "application/json",
  });
  if (route.body === "none" || (route.body === "optional" && g.chance(0.5))) return { kind: "none" };
  if (route.path === "/agents") {
    return json({
      agent_id: g.chance(0.7) ? g.pick(world.agentIds) : `${world.capability}-fz${g.int(0, 9)}`,
      capabilities: [world.capability],
      cost_model: g.pick(["green", "yellow", "orange"]),
      bidding_endpoint: world.queueUrl,
      ...(g.chance(0.5) ? { wallet_address: `w-${g.hex(6)}` } : {}),
    });
  }
  if (route.path.endsWith("/resolve"))
    return json({ resolution: g.pick(["release", "refund"]), note: "fuzz" });
  if (route.path.startsWith("/approvals")) return json({ note: "fuzz" });
  return json({ reason: "fuzz" });
}

function fuzzToken(g: Gen, world: FuzzWorld): { value: string | undefined; kind: string } {
  const agentKey = () => g.pick(world.agentKeys);
  const afk = () => `afk_${g.hex(20)}_${g.chars(43, B64URL)}`;
  return g.weighted<{ value: string | undefined; kind: string }>([
    [8, () => ({ value: undefined, kind: "none" })],
    [
      8,
      () => ({
        kind: "malformed",
        value: g.pick([
          "",
          "Bearer",
          "Bearer ",
          "Basic dXNlcjpwYXNz",
          `bearer  ${world.operatorToken}`,
          `BEARER\t${world.operatorToken}`,
          `Bearer ${world.operatorToken} trailing`,
          "Bearer a b",
          `Bearer ${"x".repeat(g.int(513, 4000))}`,
          "Token abc",
          "Bearer \u00e9\u00ff\u00a0",
          `Bearer ${world.operatorToken}\u00a0`,
          `Bearer ${g.chars(g.int(1, 40), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")}`,
          `${world.operatorToken}`,
          `Bearer Bearer ${world.operatorToken}`,
        ]),
      }),
    ],
    [8, () => ({ kind: "wrong", value: `Bearer ${g.hex(g.pick([32, 64, 65]))}` })],
    [28, () => ({ kind: "operator", value: `Bearer ${world.operatorToken}` })],
    [4, () => ({ kind: "alice", value: world.aliceToken ? `Bearer ${world.aliceToken}` : undefined })],
    [18, () => ({ kind: "agent", value: `Bearer ${agentKey()}` })],
    [6, () => ({ kind: "expired", value: `Bearer ${world.expiredKey ?? afk()}` })],
    [
      12,
      () => ({
        kind: "afk-lookalike",
        value: `Bearer ${g.weighted([
          [3, afk],
          [2, () => `${agentKey().slice(0, 25)}${g.chars(43, B64URL)}`],
          [1, () => `${agentKey().slice(0, -1)}${g.pick(["A", "_", "-", "z"])}`],
          [1, () => `${agentKey()}x`],
          [1, () => agentKey().toUpperCase()],
          [1, () => `afk_${g.hex(20)}_`],
          [1, () => `afk_${g.chars(g.int(0, 80), B64URL)}`],
          [1, () => `AFK_${agentKey().slice(4)}`],
        ])}`,
      }),
    ],
  ]);
}

/** One path parameter, as it appears in the request line (percent-encoded where it has to be). */
function fuzzParam(g: Gen, world: FuzzWorld): string {
  return g.weighted<string>([
    [
      20,
      () =>
        g.pick([
          ...world.agentIds,
          world.taskUrl ? encodeURIComponent(world.taskUrl) : "x",
          `apr_${g.hex(24)}`,
          world.escrowId ?? randomUUID(),
          randomUUID(),
          encodeURIComponent(`https://github.com/o/r/issues/${g.int(0, 99999)}`),
        ]),
    ],
    [
      15,
      () =>
        encodeURIComponent(
          `${g.chars(g.int(0, 4), ASCII)}${g.chars(g.int(1, 6), CONTROL_CHARS)}${g.chars(g.int(0, 4), ASCII)}`,
        ),
    ],
    [
      15,
      () =>
        Array.from(
          { length: g.int(1, 4) },
          () => `${g.pick(PERCENT_GARBAGE)}${g.chars(g.int(0, 3), ASCII)}`,
        ).join(""),
    ],
    [8, () => g.chars(g.int(200, 6000), g.chance(0.5) ? "a" : ASCII)],
    [10, () => encodeURIComponent(Array.from({ length: g.int(1, 12) }, () => g.pick(UNICODE)).join(""))],
    [8, () => Array.from({ length: g.int(1, 3) }, () => g.pick(RAW_PUNCTUATION)).join("")],
    [6, () => g.pick(ODD_NAMES)],
    // Blank once decoded (JavaScript's trim() also removes NBSP, BOM and the Unicode spaces).
    [
      4,
      () =>
        g.pick([
          "%20",
          "%09",
          "%0A",
          "%0D",
          "%0D%0A",
          "%20%20",
          "%C2%A0",
          "%EF%BB%BF",
          "%E2%80%83",
          "%E3%80%80",
        ]),
    ],
    [4, () => ""],
    [10, () => g.chars(g.int(1, 130), ASCII)],
  ]);
}

function fuzzPath(g: Gen, world: FuzzWorld): string {
  const fromTemplate = () => {
    const template = g.pick(REST_ROUTES).path;
    return template.replace(/:[a-z_]+/g, () => fuzzParam(g, world));
  };
  return g.weighted<string>([
    [85, fromTemplate],
    [5, () => `${fromTemplate()}${g.pick(["/", "//", "/x", "/..", "/.", "/%2F", "/kill/kill"])}`],
    [
      7,
      () =>
        g.pick([
          "/",
          "/nope",
          "/AGENTS",
          "/agents/",
          "//agents",
          "/tasks",
          "/tasks/",
          "/audit",
          "/audit/verify/",
          "/audit/verify/x",
          "/%2e%2e/agents",
          // Scheme-relative request targets.
          "//",
          "///",
          "/\\",
          `//x${g.pick(REST_ROUTES).path.replace(/:[a-z_]+/g, "x")}`,
          "/agents/x/y/z",
          "/escrows/",
          `/${fuzzParam(g, world)}`,
        ]),
    ],
    [3, () => "/webhooks/github"],
  ]);
}

function fuzzQuery(g: Gen, world: FuzzWorld): string {
  if (g.chance(0.5)) return "";
  const valueFor = (key: string): string => {
    switch (key) {
      case "limit":
        return g.pick([
          "-1",
          "abc",
          "1e3",
          "0",
          "101",
          "100",
          "1",
          "007",
          "%205",
          "5%20",
          "0x10",
          "1.5",
          "",
          "%00",
          "9".repeat(400),
          "Infinity",
        ]);
      case "cursor":
        return g.weighted<string>([
          [3, () => g.chars(g.int(1, 200), B64URL)],
          [2, () => `${g.chars(g.int(0, 5), ASCII)}%00%00${g.chars(g.int(0, 5), ASCII)}`],
          [1, () => "x".repeat(g.int(2000, 3000))],
          [
            2,
            () =>
              Buffer.from(
                JSON.stringify(
                  g.pick([{ PK: { S: "AGENT#x" } }, { a: 1 }, [], null, { seq: -1 }, { id: "'; --" }]),
                ),
              ).toString("base64url"),
          ],
          [1, () => g.pick(["null", "{}", "%7B%7D", "%", "%E0%A4%A"])],
          [
            3,
            () => {
              const real = world.cursor ?? "eyJQSyI6IngifQ";
              return g.weighted<string>([
                [1, () => real.slice(0, g.int(0, real.length - 1))],
                [1, () => `${real}${g.chars(g.int(1, 4), B64URL)}`],
                [1, () => `${real.slice(0, 10)}${g.pick(["A", "_", "-"])}${real.slice(11)}`],
                [
                  2,
                  () => {
                    let key: Json = {};
                    try {
                      key = JSON.parse(Buffer.from(real, "base64url").toString("utf8"));
                    } catch {
                      // Not JSON: tamper with an empty key.
                    }
                    const field = g.pick([...Object.keys(key), "PK", "X"]);
                    key[field] = g.pick([
                      "AGENT#zz",
                      "CAP#python",
                      "",
                      1,
                      null,
                      { S: "x" },
                      "a".repeat(1200),
                    ]);
                    return Buffer.from(JSON.stringify(key)).toString("base64url");
                  },
                ],
              ]);
            },
          ],
          [1, () => encodeURIComponent(g.bytes(g.int(1, 64)).toString("latin1"))],
        ]);
      case "capability":
        return g.pick([world.capability, "python", "A", "%00", "a".repeat(200), "%E0%A4%A", ""]);
      case "status":
        return g.pick(["pending", "approved", "rejected", "released", "refunded", "x", "%00", ""]);
      case "task_id":
        return g.pick([world.taskUrl ? encodeURIComponent(world.taskUrl) : "x", "x", "%", "%0A"]);
      case "agent_id":
        return g.pick([...world.agentIds, "x%00", "a".repeat(300), "__proto__"]);
      default:
        return g.weighted<string>([
          [3, () => g.chars(g.int(0, 20), ASCII)],
          [1, () => encodeURIComponent(g.chars(g.int(1, 5), CONTROL_CHARS))],
          [1, () => g.pick(PERCENT_GARBAGE)],
        ]);
    }
  };
  const keys = ["limit", "cursor", "capability", "status", "task_id", "agent_id"];
  const unknown = [
    "foo",
    "LIMIT",
    "__proto__",
    "constructor",
    "x[]",
    "a.b",
    "",
    "%E0",
    "%00",
    "limit%00",
    "cursor[]",
  ];
  const parts: string[] = [];
  for (let i = g.int(1, 5); i > 0; i -= 1) {
    const key = g.chance(0.75) ? g.pick(keys) : g.pick(unknown);
    parts.push(`${key}=${valueFor(key)}`);
    if (g.chance(0.15)) parts.push(`${key}=${valueFor(key)}`);
    if (g.chance(0.05)) parts.push(g.pick(["", "=", "a", "a==b", "%", "&"]));
  }
  return `?${parts.join("&")}`;
}

function fuzzBody(g: Gen, world: FuzzWorld): { body?: Buffer; kind: string; contentType?: string } {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8");
  const controlText = () =>
    `${g.chars(g.int(0, 3), ASCII)}${g.chars(g.int(1, 4), CONTROL_CHARS)}${g.chars(g.int(0, 3), ASCII)}`;
  const plausible = (): Record<string, unknown> => {
    const value: Record<string, unknown> = {
      agent_id: g.chance(0.5) ? g.pick(world.agentIds) : `${world.capability}-fz${g.int(0, 9)}`,
      capabilities: [world.capability],
      cost_model: g.pick(["green", "yellow", "orange", "red"]),
      bidding_endpoint: g.pick([
        world.queueUrl,
        "https://example.com/bid",
        "http://169.254.169.254/",
        "ftp://x",
      ]),
    };
    const optional: Record<string, () => unknown> = {
      wallet_address: () => g.pick(["w-1", "", "x".repeat(200)]),
      status: () => g.pick(["active", "suspended", "dead"]),
      reason: () => g.pick(["fuzz", "", "x".repeat(2000)]),
      note: () => "fuzz",
      resolution: () => g.pick(["release", "refund", "both"]),
      actor: () => "mallory",
      reviewer: () => "mallory",
      judge: () => "mallory",
      kill_switch_active: () => g.chance(0.5),
      trust_score: () => 100,
    };
    for (const [key, make] of Object.entries(optional)) if (g.chance(0.15)) value[key] = make();
    // Sometimes just the fields a governance or kill-switch route takes.
    if (g.chance(0.3)) {
      return Object.fromEntries(
        Object.entries(value).filter(([key]) =>
          ["reason", "note", "resolution", "actor", "reviewer", "judge"].includes(key),
        ),
      );
    }
    return value;
  };
  const result = g.weighted<{ body?: Buffer; kind: string }>([
    [40, () => ({ kind: "none" })],
    [15, () => ({ kind: "plausible", body: json(plausible()) })],
    [
      10,
      () => ({
        kind: "control-chars",
        body: json(
          Object.fromEntries(
            [
              "agent_id",
              "cost_model",
              "bidding_endpoint",
              "wallet_address",
              "status",
              "reason",
              "note",
              "resolution",
              controlText(),
            ].map((key) => [key, controlText()]),
          ),
        ),
      }),
    ],
    [
      3,
      () => ({
        kind: "control-chars-array",
        body: json({ ...plausible(), capabilities: [controlText(), controlText()] }),
      }),
    ],
    [
      10,
      () => ({
        kind: "malformed-json",
        body: Buffer.from(
          g.pick([
            "{",
            '{"a":',
            "nul",
            '{"a":1,}',
            "[1,2",
            "\ufeff{}",
            "{'a':1}",
            '{"a":"\u0000"}',
            '{"a":"\\u00"}',
            '{"a" 1}',
            "NaN",
            "undefined",
            "}{",
            '"unterminated',
            '{"__proto__":{"polluted":true}}',
            '{"constructor":{"prototype":{"x":1}}}',
            `{"a":${"1".repeat(400)}}`,
            '{"a":1e999}',
            "\u0000",
          ]),
          "utf8",
        ),
      }),
    ],
    [
      5,
      () => {
        const depth = g.int(500, 7000);
        const [open, close] = g.pick([
          ["[", "]"],
          ['{"a":', "}"],
        ] as const);
        return { kind: `nested-${depth}`, body: Buffer.from(`${open.repeat(depth)}1${close.repeat(depth)}`) };
      },
    ],
    [
      1,
      () => {
        const wrap = g.pick(["reason", "capabilities", "agent_id"]);
        const depth = g.int(1000, 5000);
        return {
          kind: `nested-field-${depth}`,
          body: Buffer.from(`{"${wrap}":${"[".repeat(depth)}"x"${"]".repeat(depth)}}`),
        };
      },
    ],
    [
      4,
      () => ({
        kind: "huge",
        body: json({ ...plausible(), reason: "r".repeat(g.int(16 * 1024, 64 * 1024)) }),
      }),
    ],
    [
      0.6,
      () => ({
        kind: "1MiB",
        body: json({
          ...plausible(),
          note: g.chance(0.5) ? "n".repeat(1024 * 1024) : "\u0001".repeat(200_000),
        }),
      }),
    ],
    [4, () => ({ kind: "random-bytes", body: g.bytes(g.int(1, 2048)) })],
    [
      5,
      () => ({
        kind: "primitive",
        body: Buffer.from(g.pick(["null", "1", '"s"', "[]", "true", "{}", "-0", '""'])),
      }),
    ],
  ]);
  if (!result.body) {
    return g.chance(0.1) ? { ...result, contentType: "application/json" } : result;
  }
  const contentType = g.chance(0.7) ? "application/json" : g.chance(0.1) ? undefined : g.pick(CONTENT_TYPES);
  return { ...result, ...(contentType !== undefined ? { contentType } : {}) };
}

/** The bodies API Gateway (and the local gateway) answer with themselves, before the function. */
const GATEWAY_BODIES: Record<number, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  413: "Request Entity Too Large",
};

interface FuzzResponse {
  status: number;
  body: string;
}

function sendRequest(
  agent: http.Agent,
  target: { host: string; port: number },
  request: FuzzRequest,
): Promise<FuzzResponse | { error: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (result: FuzzResponse | { error: string }) => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    let outgoing: http.ClientRequest;
    try {
      outgoing = http.request(
        {
          host: target.host,
          port: target.port,
          method: request.method,
          path: request.path,
          agent,
          timeout: 30_000,
          headers: {
            ...request.headers,
            ...(request.body ? { "content-length": String(request.body.length) } : {}),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size <= 64 * 1024) chunks.push(chunk);
          });
          response.on("end", () =>
            done({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
          );
          response.on("error", (error) => done({ error: `response: ${error.message}` }));
        },
      );
    } catch (error) {
      done({ error: `unsendable: ${(error as Error).message}` });
      return;
    }
    outgoing.on("timeout", () => outgoing.destroy(new Error("no response in 30 s")));
    outgoing.on("error", (error) => done({ error: error.message }));
    outgoing.end(request.body);
  });
}

/** What is wrong with a response, or `undefined` when it is acceptable; counts it either way. */
function judge(
  request: FuzzRequest,
  response: FuzzResponse,
  report: FuzzReport,
  credentials: readonly string[],
): string | undefined {
  const { status, body } = response;
  report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
  if (status >= 500) return "5xx";
  if (credentials.some((credential) => body.includes(credential)))
    return "a known credential in the response";
  if (request.method === "HEAD") return body === "" ? undefined : "HEAD response with a body";
  let parsed: Json;
  try {
    parsed = JSON.parse(body);
  } catch {
    return status >= 400 ? "error body is not JSON" : "success body is not JSON";
  }
  if (status < 400) return undefined;
  const gatewayMessage = GATEWAY_BODIES[status];
  if (
    gatewayMessage &&
    parsed &&
    typeof parsed === "object" &&
    Object.keys(parsed).length === 1 &&
    parsed.message === gatewayMessage
  ) {
    report.gatewayByStatus[status] = (report.gatewayByStatus[status] ?? 0) + 1;
    return undefined;
  }
  const error = parsed?.error;
  if (
    error &&
    typeof error === "object" &&
    typeof error.code === "string" &&
    typeof error.message === "string" &&
    Object.keys(parsed).length === 1
  ) {
    const key = `${status} ${error.code}`;
    report.codes[key] = (report.codes[key] ?? 0) + 1;
    return undefined;
  }
  return "error body is not { error: { code, message } }";
}

async function runFuzz(options: {
  host: string;
  port: number;
  seed: number;
  total: number;
  concurrency: number;
  budgetMs: number;
  world: FuzzWorld;
}): Promise<FuzzReport> {
  const { seed, total, concurrency, budgetMs, world } = options;
  const report: FuzzReport = {
    seed,
    sent: 0,
    elapsedMs: 0,
    byStatus: {},
    gatewayByStatus: {},
    codes: {},
    offenders: [],
    kinds: {},
    unsendable: [],
  };
  // Credentials the fuzz knows: no response may ever show one (new keys and secrets are unknown).
  const credentials = [
    world.operatorToken,
    world.aliceToken,
    world.expiredKey,
    ...world.agentKeys,
    ...world.secrets,
  ].filter((c): c is string => typeof c === "string" && c.length >= 16);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < total && Date.now() - started < budgetMs) {
      const index = next;
      next += 1;
      const request = generateRequest(world, seed, index);
      const result = await sendRequest(agent, options, request);
      if ("error" in result && result.error.startsWith("unsendable")) {
        report.unsendable.push(`#${index} ${request.method} ${request.path.slice(0, 120)}: ${result.error}`);
        continue;
      }
      report.sent += 1;
      const problem =
        "error" in result ? `no response: ${result.error}` : judge(request, result, report, credentials);
      if (problem) {
        const offender: Offender = {
          index,
          method: request.method,
          path: request.path,
          detail: `${problem}; ${request.detail}`,
          status: "error" in result ? "-" : result.status,
          excerpt: "error" in result ? "" : result.body.slice(0, 200),
        };
        report.offenders.push(offender);
        const kind = `${problem} (${offender.status}), suspected: ${suspectedCauses(request).join(" + ") || "unclassified"}`;
        const entry = report.kinds[kind] ?? { count: 0, example: offender };
        entry.count += 1;
        report.kinds[kind] = entry;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  report.elapsedMs = Date.now() - started;
  return report;
}

/** What a request has that earlier offenders had in common: to group the report, not to judge. */
function suspectedCauses(request: FuzzRequest): string[] {
  const causes: string[] = [];
  if (/^\/[/\\]/.test(request.path)) causes.push("scheme-relative request target (// or /\\)");
  if (hasBlankSegment(request.path)) causes.push("a path segment that is blank once decoded");
  if (request.hostile) causes.push("hostile Host/X-Forwarded-Proto");
  if ((request.method === "GET" || request.method === "HEAD") && request.body)
    causes.push("GET/HEAD with a body");
  return causes;
}

/** Whether a path segment decodes to nothing but whitespace (as JavaScript's trim() sees it). */
function hasBlankSegment(path: string): boolean {
  return (path.split("?")[0] ?? "").split("/").some((segment) => {
    try {
      return segment !== "" && decodeURIComponent(segment).trim() === "";
    } catch {
      return false;
    }
  });
}

function describeOffender(o: Offender): string {
  return `#${o.index} ${o.method} ${o.path.slice(0, 300)} [${o.detail}] -> ${o.status}: ${o.excerpt}`;
}

function formatReport(report: FuzzReport): string {
  const lines = [
    `[fuzz] seed ${report.seed}: ${report.sent} requests in ${report.elapsedMs} ms, ${report.offenders.length} offending`,
    `[fuzz] by status: ${JSON.stringify(report.byStatus)}`,
    `[fuzz] gateway refusals by status: ${JSON.stringify(report.gatewayByStatus)}`,
    `[fuzz] API error codes: ${JSON.stringify(report.codes)}`,
    ...Object.entries(report.kinds).map(
      ([kind, { count, example }]) => `[fuzz] OFFENDING ${count}× ${kind}; e.g. ${describeOffender(example)}`,
    ),
  ];
  return lines.join("\n");
}
