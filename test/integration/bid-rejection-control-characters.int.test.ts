import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { sign } from "../../examples/agent/src/protocol.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createNonceRepository } from "../../src/adapters/dynamo/nonce.repository.js";
import { type BidReceipt, type BidService, createBidService } from "../../src/domain/bidding/bid.service.js";
import { governanceEventsOf } from "../../src/domain/governance/projection.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import { sealedAgentMessage } from "../helpers/agent-messages.js";
import { scanRaw, servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput, issueUrl } from "../helpers/factories.js";
import { TEST_OPERATOR } from "../helpers/principals.js";

const FUTURE = "2099-01-01T00:00:00.000Z";
/** Everything `\p{Cc}` matches that a sender is likely to try: all of C0, DEL and two C1 controls. */
const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  "\u007f",
  "\u0085",
  "\u009f",
];
const CONTROL = /\p{Cc}/u;

/** Every string in `value`, map keys included. */
function stringsOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value instanceof Set || Array.isArray(value)) return [...value].flatMap(stringsOf);
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, member]) => [key, ...stringsOf(member)]);
  }
  return [];
}

type Body = Record<string, unknown>;

/**
 * A few hundred bids-queue bodies with a control character in one string field each (or in an extra
 * key), signed and unsigned, go through the bid service onto DynamoDB Local. Whatever it records is
 * read back raw: no rejection item holds a control character anywhere, every one projects, and
 * unsigned bodies write nothing at all.
 */
describe("bid service: no recorded rejection carries a control character", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;
  let bidding: BiddingRepository;
  let bids: BidService;
  let agent: { id: string; secret: string };
  let task: string;

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table);
    bidding = createBiddingRepository({ service: table.service });
    bids = createBidService({
      agents: services.agentRepo,
      bidding,
      nonces: createNonceRepository({ service: table.service }),
      awards: { awardIfDue: async () => {} },
    });
    const input = agentInput({ capabilities: ["python"] });
    const { secret } = await services.agents.register(input, TEST_OPERATOR);
    if (!secret) throw new Error("registration returned no secret");
    agent = { id: input.agent_id, secret };
    task = issueUrl();
    await services.tasks.create({
      task_id: task,
      title: "Fuzz me",
      required_capabilities: ["python"],
      budget: 100,
      bid_deadline: FUTURE,
    });
    await bidding.invite(task, [agent.id]);
  });

  const rawItems = () => scanRaw(table);

  /** The agent's three message types, well-formed, before sealing. */
  const bases = (): Body[] => [
    { type: "BID", task_id: task, agent_id: agent.id, bid_amount: 80, estimated_completion_sec: 600 },
    { type: "DECLINE", task_id: task, agent_id: agent.id },
    { type: "COST_REPORT", task_id: task, agent_id: agent.id, actual_cost: 5 },
  ];

  /** Puts `c` into `value`: replacing it, first, in the middle or last, by `n`. */
  const taint = (value: string, c: string, n: number) =>
    [c, `${c}${value}`, `${value.slice(0, 2)}${c}${value.slice(2)}`, `${value}${c}`][n % 4] as string;

  /** One body per (field, control character): each string field, numbers as strings, and extra keys. */
  function fuzzBodies(): Body[] {
    const out: Body[] = [];
    const fields = ["type", "task_id", "agent_id", "sent_at", "nonce", "amount", "extra-key", "extra-value"];
    CONTROLS.forEach((c, i) => {
      fields.forEach((field, j) => {
        const base = bases()[(i + j) % 3] as Body;
        const sealed = JSON.parse(sealedAgentMessage(base as never, agent.secret).body) as Body;
        const n = i + j;
        if (field === "amount") {
          const key =
            base.type === "BID" ? "bid_amount" : base.type === "COST_REPORT" ? "actual_cost" : "note";
          sealed[key] = taint("80", c, n);
        } else if (field === "extra-key") {
          sealed[taint("comment", c, n)] = "x";
        } else if (field === "extra-value") {
          sealed.comment = taint("a remark", c, n);
        } else {
          sealed[field] = taint(String(sealed[field]), c, n);
        }
        out.push(sealed);
      });
    });
    return out;
  }

  async function deliver(body: Body, signed: boolean): Promise<BidReceipt> {
    const raw = JSON.stringify(body);
    return bids.receive({
      body: raw,
      ...(signed ? { signature: sign(agent.secret, raw) } : {}),
      messageId: randomUUID(),
      sentAt: new Date().toISOString(),
    });
  }

  it("unsigned bodies with control characters write nothing", async () => {
    const before = await rawItems();
    const bodies = fuzzBodies();

    const receipts = [];
    for (const body of bodies) receipts.push(await deliver(body, false));

    expect(bodies.length).toBeGreaterThanOrEqual(250);
    expect(receipts.every((r) => r.status === "rejected" && !r.recorded)).toBe(true);
    expect(await rawItems()).toEqual(before);
  });

  it("signed bodies with control characters are refused, and what is recorded is clean", async () => {
    const bodies = fuzzBodies();

    const receipts: BidReceipt[] = [];
    for (const body of bodies) receipts.push(await deliver(body, true));

    expect(receipts.every((r) => r.status === "rejected")).toBe(true);
    for (const receipt of receipts) {
      expect(stringsOf(receipt).filter((s) => CONTROL.test(s))).toEqual([]);
    }
    const items = await rawItems();
    const rejections = items.filter((item) => item.type === "BID_REJECTION");
    // Not vacuous: the signed, fresh ones that name the task are recorded as MALFORMED.
    expect(rejections.length).toBeGreaterThan(50);
    expect(receipts.filter((r) => r.status === "rejected" && r.recorded)).toHaveLength(rejections.length);
    for (const item of items) {
      expect(
        stringsOf(item).filter((s) => CONTROL.test(s)),
        JSON.stringify(item),
      ).toEqual([]);
    }
    for (const rejection of rejections) {
      expect(String(rejection.reason)).toMatch(/^MALFORMED: /);
      const events = governanceEventsOf({ eventName: "INSERT", newImage: rejection, approximateAt: FUTURE });
      expect(events).toHaveLength(1);
    }
  });

  it("a NUL message type on the task is refused without a record, signed or not", async () => {
    const before = await rawItems();
    const nul = { type: "\u0000", task_id: task };

    const unsigned = await deliver(nul, false);
    const signed = await deliver(
      JSON.parse(sealedAgentMessage({ ...nul, agent_id: agent.id } as never, agent.secret).body),
      true,
    );

    expect(unsigned).toMatchObject({ status: "rejected", reason: "MALFORMED", recorded: false });
    expect(signed).toMatchObject({ status: "rejected", reason: "MALFORMED", recorded: false });
    expect(await rawItems()).toEqual(before);
  });
});
