import { setTimeout as sleep } from "node:timers/promises";
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { type AgentEvent, startAgent } from "../../examples/agent/src/agent.js";
import { verifyHttpsDelivery } from "../../examples/agent/src/https.js";
import {
  type BidRequest,
  NonceMemory,
  SIGNATURE_ATTRIBUTE,
  seal,
  sign,
  type Unsealed,
  verifyMarketplaceMessage,
  verifySignature,
} from "../../examples/agent/src/protocol.js";
import { agentMessageSchema } from "../../src/domain/bidding/messages.js";
import { sealedAgentMessage, sealedMarketplaceMessage } from "../helpers/agent-messages.js";

const SECRET = "current-secret";
const PREVIOUS = "previous-secret";
const AGENT = "kit-agent";
const TASK = "https://github.com/o/r/issues/7";
const NOW = new Date("2026-12-07T10:00:00.000Z");
const MINUTES = 60_000;

const request = (overrides: Partial<Unsealed<BidRequest>> = {}): Unsealed<BidRequest> => ({
  type: "BID_REQUEST",
  task_id: TASK,
  agent_id: AGENT,
  title: "Add retry with backoff",
  capabilities: ["typescript"],
  budget: 100,
  deadline: "2026-12-07T10:05:00.000Z",
  reply_to: "http://127.0.0.1:1/000000000000/bids",
  ...overrides,
});

/** Verifies as the agent would, the queue having accepted the message at `acceptedAt`. */
const verify = (
  sealed: { body: string; signature: string },
  { acceptedAt = NOW, nonces = new NonceMemory(), secrets = [SECRET] as string[] } = {},
) =>
  verifyMarketplaceMessage(sealed.body, sealed.signature, {
    agentId: AGENT,
    secrets,
    acceptedAt,
    nonces,
    now: acceptedAt,
  });

describe("agent kit: verifying marketplace messages", () => {
  it("accepts a sealed request: sent_at and nonce are in the signed body", () => {
    const sealed = seal<BidRequest>(request(), SECRET, { now: NOW });

    const verified = verify(sealed);

    expect(verified).toEqual({
      ok: true,
      message: expect.objectContaining({ type: "BID_REQUEST", agent_id: AGENT }),
    });
    expect(JSON.parse(sealed.body)).toMatchObject({ sent_at: NOW.toISOString(), nonce: expect.any(String) });
    expect(sealed.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it("refuses a body changed after signing, and a missing or malformed signature", () => {
    const sealed = seal<BidRequest>(request(), SECRET, { now: NOW });
    const tampered = { ...sealed, body: sealed.body.replace('"budget":100', '"budget":1000') };

    expect(verify(tampered)).toMatchObject({ ok: false, reason: "BAD_SIGNATURE" });
    expect(verifySignature(SECRET, sealed.body, undefined)).toBe(false);
    expect(verifySignature(SECRET, sealed.body, "sha256=zz")).toBe(false);
    expect(verifySignature(SECRET, sealed.body, sealed.signature.replace("sha256=", "t=1,v1="))).toBe(false);
  });

  it("refuses as STALE a message sent 10 minutes before the queue accepted it", () => {
    const sealed = seal<BidRequest>(request(), SECRET, { now: new Date(NOW.getTime() - 10 * MINUTES) });

    expect(verify(sealed)).toMatchObject({
      ok: false,
      reason: "STALE",
      detail: expect.stringContaining("600 s before"),
    });
  });

  it("refuses as STALE a message dated 10 minutes after the queue accepted it", () => {
    const sealed = seal<BidRequest>(request(), SECRET, { now: new Date(NOW.getTime() + 10 * MINUTES) });

    expect(verify(sealed)).toMatchObject({
      ok: false,
      reason: "STALE",
      detail: expect.stringContaining("600 s after"),
    });
  });

  it("accepts a skew of exactly the allowed 300 s", () => {
    const sealed = seal<BidRequest>(request(), SECRET, { now: new Date(NOW.getTime() - 5 * MINUTES) });

    expect(verify(sealed).ok).toBe(true);
  });

  it("refuses as REPLAY the same message again, and a new message reusing a nonce", () => {
    const nonces = new NonceMemory();
    const sealed = seal<BidRequest>(request(), SECRET, { now: NOW, nonce: "nonce-0123456789abcdef" });
    const reused = seal<BidRequest>(request({ title: "other" }), SECRET, {
      now: NOW,
      nonce: "nonce-0123456789abcdef",
    });

    expect(verify(sealed, { nonces }).ok).toBe(true);
    expect(verify(sealed, { nonces })).toMatchObject({ ok: false, reason: "REPLAY" });
    expect(verify(reused, { nonces })).toMatchObject({ ok: false, reason: "REPLAY" });
  });

  it("refuses as MISADDRESSED a message sealed for another agent", () => {
    const sealed = seal<BidRequest>(request({ agent_id: "someone-else" }), SECRET, { now: NOW });

    expect(verify(sealed)).toMatchObject({
      ok: false,
      reason: "MISADDRESSED",
      detail: "addressed to agent someone-else",
    });
  });

  it("refuses as MALFORMED a correctly signed v1 body, which has no sent_at or nonce", () => {
    const body = JSON.stringify(request());

    expect(verify({ body, signature: sign(SECRET, body) })).toMatchObject({
      ok: false,
      reason: "MALFORMED",
      detail: expect.stringContaining("sent_at"),
    });
  });

  it("accepts the previous secret during a rotation, and no other", () => {
    const old = seal<BidRequest>(request(), PREVIOUS, { now: NOW });
    const foreign = seal<BidRequest>(request(), "another-agents-secret", { now: NOW });

    expect(verify(old, { secrets: [SECRET, PREVIOUS] }).ok).toBe(true);
    expect(verify(old)).toMatchObject({ ok: false, reason: "BAD_SIGNATURE" });
    expect(verify(foreign, { secrets: [SECRET, PREVIOUS] })).toMatchObject({
      ok: false,
      reason: "BAD_SIGNATURE",
    });
  });
});

describe("agent kit: nonce memory", () => {
  it("keeps a nonce for twice the allowed skew past its sent_at, then evicts it", () => {
    const nonces = new NonceMemory(300);
    const sentAt = NOW.toISOString();

    expect(nonces.remember("nonce-aaaaaaaaaaaaaaaa", sentAt, NOW)).toBe(true);
    expect(nonces.remember("nonce-aaaaaaaaaaaaaaaa", sentAt, new Date(NOW.getTime() + 10 * MINUTES))).toBe(
      false,
    );
    expect(nonces.size).toBe(1);

    // Past sent_at + 600 s: any copy of that message is stale by now, so the entry can go.
    expect(
      nonces.remember("nonce-bbbbbbbbbbbbbbbb", sentAt, new Date(NOW.getTime() + 10 * MINUTES + 1)),
    ).toBe(true);
    expect(nonces.size).toBe(1);
    expect(
      nonces.remember("nonce-aaaaaaaaaaaaaaaa", sentAt, new Date(NOW.getTime() + 10 * MINUTES + 2)),
    ).toBe(true);
  });

  it("lets the same SQS message come back, but not a new message with a seen nonce", () => {
    const nonces = new NonceMemory();
    const sentAt = NOW.toISOString();

    expect(nonces.remember("nonce-cccccccccccccccc", sentAt, NOW, "message-1")).toBe(true);
    expect(nonces.remember("nonce-cccccccccccccccc", sentAt, NOW, "message-1")).toBe(true);
    expect(nonces.remember("nonce-cccccccccccccccc", sentAt, NOW, "message-2")).toBe(false);
    expect(nonces.remember("nonce-cccccccccccccccc", sentAt, NOW)).toBe(false);
  });
});

describe("agent kit: HTTPS deliveries", () => {
  const options = () => ({ agentId: AGENT, secrets: [SECRET], nonces: new NonceMemory() });

  it("verifies the body against the X-AgentForge-Signature header, whatever its case", () => {
    const { body, signature } = seal<BidRequest>(request(), SECRET, { now: NOW });

    expect(
      verifyHttpsDelivery(
        { body, headers: { "x-agentforge-signature": signature }, arrivedAt: NOW },
        options(),
      ).ok,
    ).toBe(true);
    expect(
      verifyHttpsDelivery(
        { body, headers: new Headers({ [SIGNATURE_ATTRIBUTE]: signature }), arrivedAt: NOW },
        options(),
      ).ok,
    ).toBe(true);
    expect(verifyHttpsDelivery({ body, headers: {}, arrivedAt: NOW }, options())).toMatchObject({
      reason: "BAD_SIGNATURE",
    });
  });

  it("judges staleness against the arrival time", () => {
    const { body, signature } = seal<BidRequest>(request(), SECRET, { now: NOW });
    const late = new Date(NOW.getTime() + 10 * MINUTES);

    expect(
      verifyHttpsDelivery(
        { body, headers: { "x-agentforge-signature": signature }, arrivedAt: late },
        options(),
      ),
    ).toMatchObject({
      reason: "STALE",
    });
  });
});

describe("agent kit: the test helper's sealed agent messages", () => {
  it("are what the bid worker's schema accepts, with the signature as an SQS string attribute", () => {
    const sealed = sealedAgentMessage(
      { type: "BID", task_id: TASK, agent_id: AGENT, bid_amount: 40, estimated_completion_sec: 3600 },
      SECRET,
      { now: NOW, nonce: "nonce-dddddddddddddddd" },
    );

    expect(agentMessageSchema.parse(JSON.parse(sealed.body))).toMatchObject({
      sent_at: NOW.toISOString(),
      nonce: "nonce-dddddddddddddddd",
    });
    expect(sealed.attributes).toEqual({
      [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: sealed.signature },
    });
    expect(verifySignature(SECRET, sealed.body, sealed.signature)).toBe(true);
  });
});

describe("agent kit: the SQS agent", () => {
  /** An SQS stand-in: the agent's queue holds `inbox` (SentTimestamp: now); sends and deletes are recorded. */
  function fakeSqs(inbox: Array<{ body: string; signature: string; id?: string }>, failSendsTimes = 0) {
    const sent: Array<{ queue: string | undefined; body: string; signature: string | undefined }> = [];
    const deleted: string[] = [];
    let failures = failSendsTimes;
    const client = {
      send: async (command: unknown) => {
        if (command instanceof ReceiveMessageCommand) {
          const next = inbox.shift();
          if (!next) await sleep(2);
          const message: Message | undefined = next && {
            MessageId: next.id ?? String(deleted.length),
            Body: next.body,
            ReceiptHandle: next.id ?? next.body,
            Attributes: { SentTimestamp: String(Date.now()) },
            MessageAttributes: { [SIGNATURE_ATTRIBUTE]: { DataType: "String", StringValue: next.signature } },
          };
          return { Messages: message ? [message] : [] };
        }
        if (command instanceof SendMessageCommand) {
          if (failures > 0) {
            failures -= 1;
            throw new Error("bids queue unavailable");
          }
          sent.push({
            queue: command.input.QueueUrl,
            body: command.input.MessageBody ?? "",
            signature: command.input.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue,
          });
        }
        if (command instanceof DeleteMessageCommand) deleted.push(command.input.ReceiptHandle ?? "");
        return {};
      },
    };
    return { sqs: client as unknown as SQSClient, sent, deleted, inbox };
  }

  const start = (
    sqs: SQSClient,
    events: AgentEvent[],
    extra: Partial<Parameters<typeof startAgent>[0]> = {},
  ) =>
    startAgent({
      agentId: AGENT,
      sqs,
      queueUrl: "http://127.0.0.1:1/000000000000/agent",
      secret: SECRET,
      waitSeconds: 0,
      idleMs: 1,
      answer: (r) =>
        r.budget !== null && r.budget < 45
          ? { type: "DECLINE" }
          : { type: "BID", bid_amount: 45, estimated_completion_sec: 600 },
      actualCost: (award) => award.bid_amount * 0.9,
      onEvent: (event) => events.push(event),
      ...extra,
    });

  it("answers a request once with a sealed BID, reports its cost once per award, notes a rejection", async () => {
    const first = seal<BidRequest>(request(), SECRET);
    const repeat = seal<BidRequest>(request(), SECRET);
    const award = sealedMarketplaceMessage(
      {
        type: "AWARD",
        task_id: TASK,
        agent_id: AGENT,
        bid_amount: 45,
        awarded_at: NOW.toISOString(),
        reply_to: request().reply_to,
      },
      SECRET,
    );
    const awardAgain = sealedMarketplaceMessage(
      {
        type: "AWARD",
        task_id: TASK,
        agent_id: AGENT,
        bid_amount: 45,
        awarded_at: NOW.toISOString(),
        reply_to: request().reply_to,
      },
      SECRET,
    );
    const other = "https://github.com/o/r/issues/8";
    const rejection = sealedMarketplaceMessage(
      { type: "REJECTION", task_id: other, agent_id: AGENT, reason: "OUTBID" },
      SECRET,
    );
    const { sqs, sent, deleted } = fakeSqs([first, repeat, award, awardAgain, rejection]);
    const events: AgentEvent[] = [];

    const agent = start(sqs, events);
    await expect.poll(() => deleted.length).toBe(5);
    await agent.stop();

    expect(sent.map((s) => [s.queue, JSON.parse(s.body).type])).toEqual([
      [request().reply_to, "BID"],
      [request().reply_to, "COST_REPORT"],
    ]);
    for (const message of sent) {
      expect(verifySignature(SECRET, message.body, message.signature)).toBe(true);
      expect(agentMessageSchema.parse(JSON.parse(message.body))).toMatchObject({
        task_id: TASK,
        agent_id: AGENT,
      });
    }
    expect(JSON.parse(sent[1]?.body ?? "{}")).toMatchObject({ actual_cost: 40.5 });
    expect(agent.task(TASK)).toMatchObject({
      request: { type: "BID_REQUEST" },
      answer: { type: "BID", bid_amount: 45 },
      notice: { type: "AWARD" },
      costReport: { actual_cost: 40.5 },
    });
    expect(agent.task(other)).toMatchObject({ notice: { type: "REJECTION", reason: "OUTBID" } });
    expect(events.filter((e) => e.kind === "received")).toHaveLength(5);
    expect(events.filter((e) => e.kind === "refused" || e.kind === "failed")).toEqual([]);
  });

  it("deletes refused messages with their reason, and asks the beforeAnswer hook before answering", async () => {
    const forged = seal<BidRequest>(request(), "not-the-secret");
    const stale = seal<BidRequest>(request(), SECRET, { now: new Date(Date.now() - 10 * MINUTES) });
    const unconfirmed = seal<BidRequest>(request({ task_id: "https://github.com/o/r/issues/9" }), SECRET);
    const { sqs, sent, deleted } = fakeSqs([forged, stale, unconfirmed]);
    const events: AgentEvent[] = [];

    const agent = start(sqs, events, {
      beforeAnswer: (r) => (r.task_id.endsWith("/9") ? "not invited" : undefined),
    });
    await expect.poll(() => deleted.length).toBe(3);
    await agent.stop();

    expect(sent).toEqual([]);
    expect(events.filter((e) => e.kind === "refused").map((e) => e.kind === "refused" && e.reason)).toEqual([
      "BAD_SIGNATURE",
      "STALE",
      "UNCONFIRMED",
    ]);
    expect(agent.task("https://github.com/o/r/issues/9").answer).toBeUndefined();
  });

  it("leaves a message it failed to answer on the queue, and answers its redelivery", async () => {
    const sealed = seal<BidRequest>(request(), SECRET);
    const { sqs, sent, deleted, inbox } = fakeSqs([{ ...sealed, id: "m-1" }], 1);
    const events: AgentEvent[] = [];

    const agent = start(sqs, events);
    await expect.poll(() => events.some((e) => e.kind === "failed")).toBe(true);
    expect(deleted).toEqual([]);
    inbox.push({ ...sealed, id: "m-1" });
    await expect.poll(() => sent.length).toBe(1);
    await agent.stop();

    expect(deleted).toEqual(["m-1"]);
    expect(events.filter((e) => e.kind === "refused")).toEqual([]);
  });

  it("stop() ends polling", async () => {
    const { sqs } = fakeSqs([]);
    const agent = start(sqs, []);

    await expect(agent.stop()).resolves.toBeUndefined();
  });
});
