import { describe, expect, it } from "vitest";
import {
  type AuditContent,
  auditCheckpointMatches,
  auditKeyFor,
  auditKeyring,
  canonicalAuditContent,
  createAuditChainVerifier,
  GENESIS_HASH,
  nextAuditEntry,
  PLAIN_AUDIT_KEY_ID,
  signAuditCheckpointWith,
  signAuditRow,
} from "../../src/domain/governance/audit-chain.js";
import type { AuditEntry, AuditEntryInput } from "../../src/domain/governance/governance.types.js";
import { brokenAt, intact } from "../helpers/audit-verdicts.js";

const OLD = "old-plain-key-0123456789abcdef-0123456";
const NEW = "new-rotated-key-0123456789abcdef-01234";

const input = (n: number): AuditEntryInput => ({
  action: "escrow_created",
  agent_id: "agent-1",
  resource: `escrow:${n}`,
  actor: "system:projector",
  success: true,
  cost: "2",
  details: { n },
  occurred_at: "2030-01-01T00:00:00Z",
});

/** A legacy row (no key id) signed with `key`, as rows were before key ids. */
function legacyRow(seq: number, prev: string, key: string): AuditEntry {
  const content: AuditContent = {
    ...input(seq),
    cost: "2.000000",
    occurred_at: "2030-01-01T00:00:00.000Z",
    seq,
  };
  return { ...content, prev_hash: prev, signature: signAuditRow(key, canonicalAuditContent(content), prev) };
}

describe("auditKeyring", () => {
  it("makes a plain key the one key with the fixed id", () => {
    expect(auditKeyring(OLD)).toEqual({ current: PLAIN_AUDIT_KEY_ID, keys: { [PLAIN_AUDIT_KEY_ID]: OLD } });
  });

  it("parses a JSON keyring, with an optional legacy key id", () => {
    const keyring = auditKeyring(JSON.stringify({ current: "k2", keys: { k1: OLD, k2: NEW }, legacy: "k1" }));
    expect(keyring).toEqual({ current: "k2", keys: { k1: OLD, k2: NEW }, legacy: "k1" });
    expect(auditKeyFor(keyring, null)).toBe(OLD);
    expect(auditKeyFor(keyring, "k2")).toBe(NEW);
    expect(auditKeyFor(keyring, "k3")).toBeUndefined();
    expect(
      auditKeyFor(auditKeyring(JSON.stringify({ current: "k2", keys: { k2: NEW } })), null),
    ).toBeUndefined();
  });

  it.each([
    ["{not json", /does not parse/],
    [JSON.stringify({ current: "k1", keys: [OLD] }), /needs "keys"/],
    [JSON.stringify({ current: "k1" }), /needs "keys"/],
    [JSON.stringify({ current: "k1", keys: {} }), /holds no keys/],
    [JSON.stringify({ current: "k9", keys: { k1: OLD } }), /"current" must name one of its keys \(k1\)/],
    [JSON.stringify({ current: "k1", keys: { k1: "short" } }), /key "k1" must be at least 32 characters/],
    [JSON.stringify({ current: "k1", keys: { k1: 42 } }), /key "k1" is not a string/],
    [JSON.stringify({ current: "a b", keys: { "a b": OLD } }), /key id "a b"/],
    [
      JSON.stringify({ current: "k1", keys: { k1: OLD }, legacy: "k0" }),
      /"legacy" must name one of its keys/,
    ],
    [JSON.stringify({ current: "k1", keys: { k1: OLD }, extra: 1 }), /unknown fields: extra/],
  ])("refuses %s, naming the problem but never a key", (text, message) => {
    expect(() => auditKeyring(text)).toThrow(message);
    try {
      auditKeyring(text);
    } catch (error) {
      expect((error as Error).message).not.toContain(OLD);
    }
  });

  it("refuses an empty plain key", () => {
    expect(() => auditKeyring("")).toThrow(/must not be empty/);
  });
});

describe("rows under a rotating key", () => {
  it("signs the next row with the current key and its id, linked to the head", () => {
    const keyring = auditKeyring({ current: "k2", keys: { default: OLD, k2: NEW } });
    const first = legacyRow(1, GENESIS_HASH, OLD);
    const next = nextAuditEntry({ seq: 1, last_hash: first.signature }, input(2), keyring);
    expect(next).toMatchObject({ seq: 2, prev_hash: first.signature, key_id: "k2", cost: "2.000000" });
    expect(next.occurred_at).toBe("2030-01-01T00:00:00.000Z");
    expect(next.signature).toBe(signAuditRow(NEW, canonicalAuditContent(next), first.signature));
    expect(canonicalAuditContent(next)).toContain('"key_id":"k2"');
    expect(canonicalAuditContent(first)).not.toContain("key_id");

    const verifier = createAuditChainVerifier(keyring);
    expect([first, next].every((row) => verifier.push(row))).toBe(true);
    expect(verifier.finish({ seq: 2, last_hash: next.signature })).toEqual(intact(2));
  });

  it("names the key id a row needs when the keyring lacks it", () => {
    const k1 = auditKeyring({ current: "k1", keys: { default: OLD, k1: NEW } });
    const first = legacyRow(1, GENESIS_HASH, OLD);
    const second = nextAuditEntry({ seq: 1, last_hash: first.signature }, input(2), k1);
    const verifier = createAuditChainVerifier({ current: "default", keys: { default: OLD } });
    verifier.push(first);
    expect(verifier.push(second)).toBe(false);
    expect(verifier.finish()).toEqual(brokenAt(2, 1, expect.stringContaining('key id "k1"')));
  });

  it("binds a checkpoint to the key id it was signed under", () => {
    const keyring = auditKeyring({ current: "k2", keys: { default: OLD, k2: NEW } });
    const { checkpoint, mac } = signAuditCheckpointWith(keyring, {
      seq: 4,
      signature: "ab".repeat(32),
      verified_at: "2030-01-01T00:00:00.000Z",
    });
    expect(checkpoint.key_id).toBe("k2");
    expect(auditCheckpointMatches(keyring, checkpoint, mac)).toBe(true);
    expect(auditCheckpointMatches(keyring, { ...checkpoint, key_id: "default" }, mac)).toBe(false);
    expect(auditCheckpointMatches({ current: "default", keys: { default: OLD } }, checkpoint, mac)).toBe(
      false,
    );
  });
});
