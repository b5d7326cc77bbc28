import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  type AuditContent,
  auditCheckpointMatches,
  canonicalAuditContent,
  canonicalJson,
  createAuditChainVerifier,
  GENESIS_HASH,
  signAuditCheckpoint,
  signAuditRow,
} from "../../src/domain/governance/audit-chain.js";
import type { AuditEntry } from "../../src/domain/governance/governance.types.js";
import { brokenAt, intact } from "../helpers/audit-verdicts.js";

const KEY = "unit-test-key";

function content(seq: number, overrides: Partial<AuditContent> = {}): AuditContent {
  return {
    seq,
    action: "escrow_created",
    agent_id: "agent-1",
    resource: `escrow:${seq}`,
    actor: "system:projector",
    success: true,
    cost: "1.5",
    details: { b: 1, a: { d: [1, 2], c: "x" } },
    occurred_at: "2030-01-01T00:00:00.000Z",
    ...overrides,
  };
}

/** A correctly signed chain of `n` rows, as the store would write it. */
function chain(n: number): AuditEntry[] {
  const rows: AuditEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq += 1) {
    const body = content(seq);
    const signature = signAuditRow(KEY, canonicalAuditContent(body), prev);
    rows.push({ ...body, prev_hash: prev, signature });
    prev = signature;
  }
  return rows;
}

function verify(rows: AuditEntry[], head?: { seq: number; last_hash: string }) {
  const verifier = createAuditChainVerifier(KEY);
  for (const row of rows) if (!verifier.push(row)) break;
  return verifier.finish(head);
}

const headOf = (rows: AuditEntry[]) => {
  const last = rows.at(-1);
  return { seq: last?.seq ?? 0, last_hash: last?.signature ?? GENESIS_HASH };
};

describe("canonicalJson", () => {
  it("sorts keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { z: [3, { y: 1, x: 2 }], "10": true, "9": false } })).toBe(
      '{"a":{"10":true,"9":false,"z":[3,{"x":2,"y":1}]},"b":1}',
    );
  });

  it("follows JSON.stringify for undefined, non-finite numbers and toJSON", () => {
    expect(canonicalJson({ a: undefined, b: [undefined, Number.NaN], c: new Date(0) })).toBe(
      '{"b":[null,null],"c":"1970-01-01T00:00:00.000Z"}',
    );
    expect(() => canonicalJson({ big: 1n })).toThrow(TypeError);
  });
});

describe("canonicalAuditContent", () => {
  it("is the sorted JSON of the nine signed fields", () => {
    expect(canonicalAuditContent(content(3))).toBe(
      '{"action":"escrow_created","actor":"system:projector","agent_id":"agent-1","cost":"1.500000",' +
        '"details":{"a":{"c":"x","d":[1,2]},"b":1},"occurred_at":"2030-01-01T00:00:00.000Z",' +
        '"resource":"escrow:3","seq":3,"success":true}',
    );
  });

  it("gives the same text for a row as read back from the database", () => {
    const written = content(1, { cost: "1.5", occurred_at: "2030-01-01T00:00:00Z", details: { b: 1, a: 2 } });
    const readBack = content(1, {
      cost: "1.500000",
      occurred_at: new Date("2030-01-01T00:00:00.000Z").toISOString(),
      details: { a: 2, b: 1 },
    });

    expect(canonicalAuditContent(readBack)).toBe(canonicalAuditContent(written));
  });

  it("keeps a null cost null and refuses an unreadable timestamp", () => {
    expect(canonicalAuditContent(content(1, { cost: null }))).toContain('"cost":null');
    expect(() => canonicalAuditContent(content(1, { occurred_at: "yesterday" }))).toThrow(/not a date/);
  });
});

describe("signAuditRow", () => {
  it("is the hex HMAC-SHA256 of canonical + newline + prev_hash", () => {
    const expected = createHmac("sha256", KEY).update(`{"a":1}\n${GENESIS_HASH}`).digest("hex");

    expect(signAuditRow(KEY, '{"a":1}', GENESIS_HASH)).toBe(expected);
    expect(signAuditRow(KEY, '{"a":1}', GENESIS_HASH)).toMatch(/^[0-9a-f]{64}$/);
    expect(signAuditRow("other-key", '{"a":1}', GENESIS_HASH)).not.toBe(expected);
  });
});

describe("createAuditChainVerifier", () => {
  it("accepts an intact chain and an empty one", () => {
    const rows = chain(5);

    expect(verify(rows, headOf(rows))).toEqual(intact(5));
    expect(verify([], headOf([]))).toEqual(intact(0));
  });

  it("reports a row whose details were edited", () => {
    const rows = chain(4);
    const edited = rows.map((row) =>
      row.seq === 3 ? { ...row, details: { ...row.details, extra: 1 } } : row,
    );

    expect(verify(edited, headOf(rows))).toEqual(
      brokenAt(3, 2, "signature of seq 3 does not match its content"),
    );
  });

  it("reports the row after a deleted middle row", () => {
    const rows = chain(4);

    expect(
      verify(
        rows.filter((row) => row.seq !== 2),
        headOf(rows),
      ),
    ).toMatchObject({
      ok: false,
      rows_checked: 1,
      first_bad_seq: 3,
      reason: expect.stringContaining("rows 2..2 are missing"),
    });
  });

  it("reports a deleted last row at the seq after the last good one, using the head", () => {
    const rows = chain(4);

    expect(verify(rows.slice(0, 3), headOf(rows))).toMatchObject({
      ok: false,
      rows_checked: 3,
      first_bad_seq: 4,
    });
    expect(verify(rows.slice(0, 3))).toEqual(intact(3));
  });

  it("reports rows whose seq values were swapped, at the first of them", () => {
    const [r1, r2, r3] = chain(3) as [AuditEntry, AuditEntry, AuditEntry];
    const swapped = [r1, { ...r3, seq: 2 }, { ...r2, seq: 3 }];

    expect(verify(swapped, headOf([r1, r2, r3]))).toMatchObject({
      ok: false,
      rows_checked: 1,
      first_bad_seq: 2,
    });
  });

  it("reports a row whose prev_hash does not link to the previous signature", () => {
    const rows = chain(3);
    const relinked = rows.map((row) => (row.seq === 2 ? { ...row, prev_hash: GENESIS_HASH } : row));

    expect(verify(relinked, headOf(rows))).toMatchObject({
      ok: false,
      first_bad_seq: 2,
      reason: "prev_hash of seq 2 is not the signature of seq 1",
    });
  });

  it("reports rows beyond the head and a head hash that does not match", () => {
    const rows = chain(3);

    expect(verify(rows, { seq: 2, last_hash: rows[1]?.signature ?? "" })).toMatchObject({
      ok: false,
      first_bad_seq: 3,
    });
    expect(verify(rows, { seq: 3, last_hash: "f".repeat(64) })).toMatchObject({
      ok: false,
      first_bad_seq: 3,
    });
  });

  it("refuses a chain signed with another key", () => {
    const verifier = createAuditChainVerifier("wrong-key");
    const [first] = chain(1) as [AuditEntry];

    expect(verifier.push(first)).toBe(false);
    expect(verifier.finish()).toMatchObject({ ok: false, rows_checked: 0, first_bad_seq: 1 });
  });

  it("stops at the first bad row and ignores the rest", () => {
    const rows = chain(3);
    const verifier = createAuditChainVerifier(KEY);

    expect(verifier.push(rows[0] as AuditEntry)).toBe(true);
    expect(verifier.push({ ...(rows[1] as AuditEntry), actor: "mallory" })).toBe(false);
    expect(verifier.push(rows[2] as AuditEntry)).toBe(false);
    expect(verifier.finish(headOf(rows))).toMatchObject({ ok: false, rows_checked: 1, first_bad_seq: 2 });
  });
});

describe("createAuditChainVerifier resuming from a checkpoint", () => {
  const resumeAt = (rows: AuditEntry[], seq: number) => ({
    seq,
    signature: rows[seq - 1]?.signature ?? "",
  });
  const resumed = (rows: AuditEntry[], seq: number, pushed: AuditEntry[] = rows.slice(seq - 1)) => {
    const verifier = createAuditChainVerifier(KEY, resumeAt(rows, seq));
    for (const row of pushed) if (!verifier.push(row)) break;
    return verifier;
  };

  it("checks the checkpoint row again and counts the rows before it as verified", () => {
    const rows = chain(6);

    expect(resumed(rows, 4).finish(headOf(rows))).toEqual(intact(6));
    expect(resumed(rows, 6).finish(headOf(rows))).toMatchObject({ ok: true, verified_through: 6 });
  });

  it("reports progress without the head as incomplete, and the last verified row", () => {
    const rows = chain(6);
    const verifier = resumed(rows, 2, rows.slice(1, 4));

    expect(verifier.progress()).toEqual(intact(4, false));
    expect(verifier.last).toEqual({ seq: 4, signature: rows[3]?.signature });
  });

  it("reports an edited checkpoint row at its seq", () => {
    const rows = chain(4);
    const edited = { ...(rows[2] as AuditEntry), actor: "api:mallory" };

    expect(resumed(rows, 3, [edited, rows[3] as AuditEntry]).finish(headOf(rows))).toEqual(
      brokenAt(3, 2, "signature of seq 3 does not match its content"),
    );
  });

  it("reports a checkpoint row that verifies on its own but is not the row verified before", () => {
    const rows = chain(3);
    const resigned = { ...(rows[2] as AuditEntry), actor: "api:mallory" };
    resigned.signature = signAuditRow(KEY, canonicalAuditContent(resigned), resigned.prev_hash);

    expect(resumed(rows, 3, [resigned]).finish(headOf([...rows.slice(0, 2), resigned]))).toMatchObject({
      ok: false,
      first_bad_seq: 3,
      reason: expect.stringContaining("signature changed"),
    });
  });

  it("reports a missing checkpoint row, even when nothing follows it and the head was rewound", () => {
    const rows = chain(4);

    expect(resumed(rows, 3, [rows[3] as AuditEntry]).finish(headOf(rows))).toMatchObject({
      ok: false,
      first_bad_seq: 4,
      reason: expect.stringContaining("missing"),
    });
    expect(resumed(rows, 3, []).finish(headOf(rows.slice(0, 2)))).toMatchObject({
      ok: false,
      rows_checked: 2,
      first_bad_seq: 3,
      reason: expect.stringContaining("missing"),
    });
  });

  it("links the rows after the checkpoint row to it", () => {
    const rows = chain(4);
    const relinked = { ...(rows[3] as AuditEntry), prev_hash: GENESIS_HASH };

    expect(resumed(rows, 3, [rows[2] as AuditEntry, relinked]).finish(headOf(rows))).toMatchObject({
      ok: false,
      first_bad_seq: 4,
      reason: "prev_hash of seq 4 is not the signature of seq 3",
    });
  });
});

describe("signAuditCheckpoint", () => {
  const checkpoint = { seq: 7, signature: "a".repeat(64), verified_at: "2030-01-01T00:00:00.000Z" };

  it("matches only the same checkpoint under the same key", () => {
    const mac = signAuditCheckpoint(KEY, checkpoint);

    expect(mac).toMatch(/^[0-9a-f]{64}$/);
    expect(auditCheckpointMatches(KEY, checkpoint, mac)).toBe(true);
    expect(auditCheckpointMatches(KEY, { ...checkpoint, seq: 8 }, mac)).toBe(false);
    expect(auditCheckpointMatches(KEY, { ...checkpoint, signature: "b".repeat(64) }, mac)).toBe(false);
    expect(auditCheckpointMatches(KEY, { ...checkpoint, verified_at: "2030-01-02T00:00:00.000Z" }, mac)).toBe(
      false,
    );
    expect(auditCheckpointMatches("other-key", checkpoint, mac)).toBe(false);
    expect(auditCheckpointMatches(KEY, checkpoint, "short")).toBe(false);
  });

  it("is not a row signature over the same fields", () => {
    const text = canonicalJson({ seq: 7, signature: "a".repeat(64), verified_at: checkpoint.verified_at });

    expect(signAuditCheckpoint(KEY, checkpoint)).not.toBe(signAuditRow(KEY, text, ""));
  });
});
