import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/domain/errors.js";
import { createApprovalService } from "../../src/domain/governance/approval.service.js";
import { createEscrowService, DEFAULT_ESCROW_PAGE_SIZE } from "../../src/domain/governance/escrow.service.js";
import type { Escrow } from "../../src/domain/governance/governance.types.js";
import { approvalIdFor, escrowIdFor } from "../../src/domain/governance/ids.js";
import type { GovernanceStore } from "../../src/ports/governance-store.js";
import { openPgliteTestStore, type TestGovernanceStore } from "../helpers/postgres.js";

/**
 * The escrow and approval services on a real (PGlite) store: who acted comes from the caller's
 * credentials, never from the body, and bad filters, ids, pages and cursors are refused before
 * Postgres is asked anything.
 */
const AT = "2030-03-01T00:00:00.000Z";
const ALICE = "operator:alice";
let seq = 0;
const taskUrl = () => `https://github.com/acme/services/issues/${++seq}`;

let fx: TestGovernanceStore;
/** Store calls made, by method: a refused input must leave this unchanged. */
const calls: string[] = [];
let store: GovernanceStore;

beforeAll(async () => {
  fx = await openPgliteTestStore();
  store = new Proxy(fx.store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return value.apply(target, args);
      };
    },
  });
});

afterAll(async () => {
  await fx?.dispose();
});

const escrows = () => createEscrowService({ store, now: () => new Date(AT) });

async function newEscrow(agentId = "agent-svc", createdAt = AT): Promise<Escrow> {
  const taskId = taskUrl();
  const { escrow } = await fx.store.transaction((tx) =>
    tx.escrows.create({
      id: escrowIdFor(taskId, agentId),
      task_id: taskId,
      agent_id: agentId,
      worker_wallet: "0xabc",
      amount: "75",
      task_description: null,
      created_at: createdAt,
    }),
  );
  return escrow;
}

const auditFor = async (resource: string) =>
  (await fx.store.listAudit({ limit: 1000 })).filter((row) => row.resource === resource);

/** Runs `fn`, expects a ValidationError, and that the store was not called meanwhile. */
async function refusedUntouched(fn: () => Promise<unknown>): Promise<ValidationError> {
  const before = calls.length;
  const error = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  expect(calls.slice(before)).toEqual([]);
  return error as ValidationError;
}

const BAD_ACTORS: unknown[] = [
  undefined,
  "",
  "alice",
  "judge:alice",
  "operator:",
  "operator:al ice",
  "operator:alice\u0000",
  "agent:a\nb",
  `operator:${"a".repeat(152)}`,
  42,
];

describe("escrow resolution", () => {
  it("records the authenticated caller as the audit actor; resolved_by stays the judge role", async () => {
    const escrow = await newEscrow();

    const resolved = await escrows().resolve(
      escrow.id,
      { resolution: "refund", note: "tests failed" },
      ALICE,
    );

    expect(resolved).toMatchObject({ status: "refunded", resolved_by: "judge", settled_at: AT });
    expect(await auditFor(`escrow:${escrow.id}`)).toEqual([
      expect.objectContaining({
        action: "escrow_resolved",
        actor: ALICE,
        details: { task_id: escrow.task_id, from: "pending", to: "refunded", note: "tests failed" },
      }),
    ]);
  });

  it.each(["judge", "actor"])(
    "refuses a body naming the %s, saying it comes from the credentials",
    async (field) => {
      const escrow = await newEscrow();

      const error = await refusedUntouched(() =>
        escrows().resolve(escrow.id, { resolution: "release", [field]: "mallory" }, ALICE),
      );

      expect(error.code).toBe("VALIDATION_FAILED");
      expect(error.message).toContain("the judge is taken from the caller's credentials");
      expect(error.issues).toEqual([{ path: field, message: expect.stringContaining("credentials") }]);
      expect(await fx.store.transaction((tx) => tx.escrows.get(escrow.id))).toEqual(escrow);
    },
  );

  it("refuses unknown fields, a bad resolution and a bad id without touching the store", async () => {
    const escrow = await newEscrow();
    for (const body of [{ resolution: "burn" }, { resolution: "release", extra: 1 }, null, "release"]) {
      await refusedUntouched(() => escrows().resolve(escrow.id, body, ALICE));
    }
    for (const id of ["not-a-uuid", `${escrow.id}\u0000`, "\u0000", 7]) {
      await refusedUntouched(() => escrows().resolve(id, { resolution: "release" }, ALICE));
      await refusedUntouched(() => escrows().get(id));
    }
  });

  it.each(BAD_ACTORS.map((actor) => [JSON.stringify(actor), actor]))(
    "refuses the actor %s: nothing is written",
    async (_label, actor) => {
      const escrow = await newEscrow();

      await refusedUntouched(() => escrows().resolve(escrow.id, { resolution: "release" }, actor as string));

      expect(await auditFor(`escrow:${escrow.id}`)).toEqual([]);
    },
  );

  it("accepts an agent principal and the longest actor allowed", async () => {
    const long = `operator:${"a".repeat(151)}`;
    expect(long).toHaveLength(160);
    for (const actor of ["agent:agent-7.x_y", long]) {
      const escrow = await newEscrow();
      await escrows().resolve(escrow.id, { resolution: "release" }, actor);
      expect((await auditFor(`escrow:${escrow.id}`))[0]?.actor).toBe(actor);
    }
  });
});

describe("escrow list", () => {
  it(`pages ${DEFAULT_ESCROW_PAGE_SIZE} at a time by default, in creation order, to the end`, async () => {
    const agentId = "agent-many";
    const created: Escrow[] = [];
    for (let i = 0; i < DEFAULT_ESCROW_PAGE_SIZE + 5; i += 1) {
      created.push(await newEscrow(agentId, new Date(Date.parse(AT) + i * 1000).toISOString()));
    }

    const first = await escrows().list({ agent_id: agentId });
    expect(first.items.map((e) => e.id)).toEqual(created.slice(0, DEFAULT_ESCROW_PAGE_SIZE).map((e) => e.id));
    expect(first.cursor).toEqual(expect.any(String));
    const second = await escrows().list({ agent_id: agentId }, { cursor: first.cursor as string });
    expect(second).toEqual({ items: created.slice(DEFAULT_ESCROW_PAGE_SIZE) });
    const small = await escrows().list({ agent_id: agentId, status: "pending" }, { limit: 3 });
    expect(small.items).toHaveLength(3);
    expect((await escrows().list({ task_id: created[4]?.task_id })).items).toEqual([created[4]]);
    const all = await escrows().list(undefined, { limit: 100 });
    expect(all.items.length).toBeGreaterThan(DEFAULT_ESCROW_PAGE_SIZE + 5);
    expect(all.items.length).toBeLessThan(100);
    expect(all.cursor).toBeUndefined();
  });

  it.each([
    ["a NUL in task_id (GET /escrows?task_id=%00)", { task_id: "\u0000" }],
    ["a task_id that is not an issue URL", { task_id: "acme/services#1" }],
    ["a control character in a task URL", { task_id: "https://github.com/acme/app/issues/1\u001f" }],
    ["a DEL in agent_id", { agent_id: "agent\u007f" }],
    ["a '#' in agent_id", { agent_id: "agent#1" }],
    ["an unknown status", { status: "burnt" }],
    ["a NUL status", { status: "\u0000" }],
    ["an unknown filter", { owner: "x" }],
    ["a filter that is not an object", "task_id=1"],
  ])("refuses %s before Postgres", async (_label, filter) => {
    await refusedUntouched(() => escrows().list(filter));
  });

  it.each([
    ["limit 0", { limit: 0 }],
    ["limit 101", { limit: 101 }],
    ["a fractional limit", { limit: 1.5 }],
    ["a NUL in the cursor", { cursor: "abc\u0000" }],
    ["a control character in the cursor", { cursor: "\u001b[2J" }],
    ["an over-long cursor", { cursor: "a".repeat(513) }],
  ])("refuses %s before Postgres", async (_label, page) => {
    await refusedUntouched(() => escrows().list({}, page as never));
  });

  it("refuses a tampered cursor as a ValidationError, not an outage", async () => {
    const tampered = Buffer.from(JSON.stringify({ k: "escrows", at: AT, id: "\u0000" })).toString(
      "base64url",
    );
    await expect(escrows().list({}, { cursor: tampered })).rejects.toBeInstanceOf(ValidationError);
    await expect(escrows().list({}, { cursor: "bm90LWpzb24" })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe("approval decisions", () => {
  const held: Array<[string, string, string]> = [];
  const approvals = () =>
    createApprovalService({
      store,
      now: () => new Date(AT),
      tasks: {
        approvePendingAward: async (taskId, agentId) => {
          held.push(["approve", taskId, agentId]);
          return "APPROVED" as const;
        },
        rejectPendingAward: async (taskId, agentId) => {
          held.push(["reject", taskId, agentId]);
          return "REJECTED" as const;
        },
      },
      awards: {
        evaluate: async (taskId) => ({ kind: "NO_BIDS", task_id: taskId }),
      },
    });

  async function newRequest() {
    const taskId = taskUrl();
    const agentId = "agent-held";
    const { request } = await fx.store.transaction((tx) =>
      tx.approvals.create({
        id: approvalIdFor(taskId, agentId, AT),
        task_id: taskId,
        agent_id: agentId,
        bid_amount: "900",
        reason: "AMOUNT_ABOVE_THRESHOLD",
        requested_at: AT,
      }),
    );
    return request;
  }

  it("approve stores the caller as reviewer and audit actor", async () => {
    const request = await newRequest();

    const approved = await approvals().approve(request.id, { note: "budget ok" }, ALICE);

    expect(approved).toMatchObject({
      status: "approved",
      reviewer: ALICE,
      note: "budget ok",
      decided_at: AT,
    });
    expect(await auditFor(`approval:${request.id}`)).toEqual([
      expect.objectContaining({ action: "approval_approved", actor: ALICE }),
    ]);
    // A retry by the same caller finds it decided and succeeds; the audit row is not repeated.
    expect(await approvals().approve(request.id, {}, ALICE)).toEqual(approved);
    expect(await auditFor(`approval:${request.id}`)).toHaveLength(1);
  });

  it("reject stores the caller as reviewer and audit actor", async () => {
    const request = await newRequest();

    const result = await approvals().reject(request.id, {}, "operator:bob");

    expect(result).toMatchObject({ request: { status: "rejected", reviewer: "operator:bob", note: null } });
    expect((await auditFor(`approval:${request.id}`))[0]).toMatchObject({
      action: "approval_rejected",
      actor: "operator:bob",
    });
  });

  it.each([
    ["approve", "reviewer"],
    ["approve", "actor"],
    ["reject", "reviewer"],
    ["reject", "actor"],
  ] as const)("%s refuses a body naming the %s", async (decision, field) => {
    const request = await newRequest();
    const heldBefore = held.length;

    const error = await refusedUntouched(() =>
      approvals()[decision](request.id, { [field]: "mallory" }, ALICE),
    );

    expect(error.message).toContain("the reviewer is taken from the caller's credentials");
    expect(held).toHaveLength(heldBefore);
    expect((await fx.store.transaction((tx) => tx.approvals.get(request.id)))?.status).toBe("pending");
  });

  it.each(BAD_ACTORS.map((actor) => [JSON.stringify(actor), actor]))(
    "refuses the actor %s before anything moves",
    async (_label, actor) => {
      const request = await newRequest();
      const heldBefore = held.length;
      await refusedUntouched(() => approvals().approve(request.id, {}, actor as string));
      await refusedUntouched(() => approvals().reject(request.id, {}, actor as string));
      expect(held).toHaveLength(heldBefore);
    },
  );

  it("refuses bad ids, notes, statuses, pages and cursors before Postgres", async () => {
    const request = await newRequest();
    for (const id of ["apr_\u0000", `${request.id}\u0000`, "\u0000", "apr_xyz"]) {
      await refusedUntouched(() => approvals().get(id));
      await refusedUntouched(() => approvals().approve(id, {}, ALICE));
    }
    await refusedUntouched(() => approvals().approve(request.id, { note: "a\u0007b" }, ALICE));
    await refusedUntouched(() => approvals().approve(request.id, { note: "x", extra: true }, ALICE));
    for (const status of ["\u0000", "PENDING", "done", 1]) {
      await refusedUntouched(() => approvals().list(status));
    }
    for (const page of [{ limit: 0 }, { limit: 101 }, { cursor: "\u0000" }, { cursor: "a b" }]) {
      await refusedUntouched(() => approvals().list("pending", page));
    }
    const tampered = Buffer.from(JSON.stringify({ k: "approvals", at: AT, id: "a\u0000" })).toString(
      "base64url",
    );
    await expect(approvals().list(undefined, { cursor: tampered })).rejects.toBeInstanceOf(ValidationError);
    expect((await approvals().list("pending", { limit: 1 })).items).toHaveLength(1);
  });
});
