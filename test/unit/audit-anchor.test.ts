import { generateKeyPairSync, sign as signWith } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type GetPublicKeyCommand, SignCommand } from "@aws-sdk/client-kms";
import { afterAll, describe, expect, it } from "vitest";
import {
  ANCHOR_KEY_FILE,
  ANCHOR_PUBLIC_KEY_FILE,
  createEd25519Signer,
  createEd25519Verifier,
  loadOrCreateAnchorKey,
  readAnchorPublicKey,
} from "../../src/adapters/anchors/ed25519-anchor-key.js";
import { createFolderAnchorStore } from "../../src/adapters/anchors/folder-anchor-store.js";
import {
  createKmsAnchorSigner,
  createKmsAnchorVerifier,
  type KmsSignClientLike,
} from "../../src/adapters/anchors/kms-anchor-key.js";
import { auditText } from "../../src/cli/format.js";
import {
  type AnchorEvidence,
  type AuditAnchor,
  anchorFileName,
  anchorSignedBytes,
  checkChainAgainstAnchor,
  combineWithAnchor,
  NO_ANCHOR_NOTE,
  parseAuditAnchor,
} from "../../src/domain/governance/audit-anchor.js";
import { AnchorExistsError } from "../../src/ports/audit-anchor.js";

const HASH_A = "a".repeat(64);
const HASH_B = "b".repeat(64);

const anchor = (overrides: Partial<AuditAnchor> = {}): AuditAnchor => ({
  version: 1,
  seq: 10,
  last_hash: HASH_A,
  anchored_at: "2031-06-01T12:00:00.000Z",
  key_id: "ed25519:key",
  algorithm: "Ed25519",
  signature: "c2lnbmF0dXJl",
  ...overrides,
});

const evidence = (overrides: Partial<AnchorEvidence> = {}): AnchorEvidence => ({
  anchor: anchor(),
  trustedKeyId: "ed25519:key",
  signatureValid: true,
  head: { seq: 12, last_hash: HASH_B },
  rowAtAnchor: { seq: 10, signature: HASH_A },
  ...overrides,
});

describe("audit anchors: the document", () => {
  it("signs every field but the signature, under a prefix of its own", () => {
    const { signature: _signature, ...unsigned } = anchor();
    const text = new TextDecoder().decode(anchorSignedBytes(unsigned));

    expect(text).toBe(
      'agentforge-audit-anchor\n{"algorithm":"Ed25519","anchored_at":"2031-06-01T12:00:00.000Z","key_id":"ed25519:key","last_hash":"' +
        `${HASH_A}","seq":10,"version":1}`,
    );
    expect(anchorSignedBytes({ ...unsigned, key_id: "other" })).not.toEqual(anchorSignedBytes(unsigned));
  });

  it("names anchors so that ascending order is newest first: highest seq, then latest time", () => {
    const names = [
      anchorFileName({ seq: 9, anchored_at: "2031-06-01T12:00:05.000Z" }),
      anchorFileName({ seq: 10, anchored_at: "2031-06-01T12:00:00.000Z" }),
      anchorFileName({ seq: 10, anchored_at: "2031-06-01T12:00:01.000Z" }),
      anchorFileName({ seq: 1_000_000, anchored_at: "2031-06-01T11:00:00.000Z" }),
    ];

    expect([...names].sort()).toEqual([names[3], names[2], names[1], names[0]]);
    expect(names[1]).toBe("99999999999999999990-8061918400000.json");
    expect(() => anchorFileName({ seq: 0, anchored_at: "2031-06-01T12:00:00.000Z" })).toThrow(RangeError);
  });

  it("parses a stored anchor and refuses anything else, naming where it came from", () => {
    expect(parseAuditAnchor(JSON.parse(JSON.stringify(anchor())), "f.json")).toEqual(anchor());
    for (const bad of [
      null,
      [],
      { ...anchor(), version: 2 },
      { ...anchor(), seq: 0 },
      { ...anchor(), last_hash: "xyz" },
      { ...anchor(), anchored_at: "yesterday" },
      { ...anchor(), algorithm: "RSA" },
      { ...anchor(), signature: "not base64!" },
    ]) {
      expect(() => parseAuditAnchor(bad, "f.json")).toThrow(
        /^The audit anchor f\.json is not a valid anchor/,
      );
    }
  });
});

describe("checkChainAgainstAnchor", () => {
  it("passes when the head is at or past the anchor and the anchored row still carries its signature", () => {
    expect(checkChainAgainstAnchor(evidence())).toEqual({ ok: true });
    expect(checkChainAgainstAnchor(evidence({ head: { seq: 10, last_hash: HASH_A } }))).toEqual({ ok: true });
  });

  it("reports a cut tail with a rewound head, naming the anchor", () => {
    const check = checkChainAgainstAnchor(
      evidence({ head: { seq: 7, last_hash: HASH_B }, rowAtAnchor: undefined }),
    );

    expect(check).toEqual({
      ok: false,
      first_bad_seq: 8,
      reason:
        "rows deleted after seq 7: the chain head 7 is behind anchor seq 10 of 2031-06-01T12:00:00.000Z",
    });
  });

  it("reports a missing anchored row and a rewritten one", () => {
    expect(checkChainAgainstAnchor(evidence({ rowAtAnchor: undefined }))).toEqual({
      ok: false,
      first_bad_seq: 10,
      reason: "seq 10, covered by anchor seq 10 of 2031-06-01T12:00:00.000Z, is missing: rows were deleted",
    });
    expect(checkChainAgainstAnchor(evidence({ rowAtAnchor: { seq: 10, signature: HASH_B } }))).toEqual({
      ok: false,
      first_bad_seq: 10,
      reason:
        "seq 10 (or a row before it) was rewritten: its signature differs from the one in anchor seq 10 of 2031-06-01T12:00:00.000Z",
    });
  });

  it("refuses an anchor with a bad signature or under another key before looking at the chain", () => {
    expect(checkChainAgainstAnchor(evidence({ signatureValid: false }))).toMatchObject({
      ok: false,
      reason:
        "anchor seq 10 of 2031-06-01T12:00:00.000Z has an invalid signature: the anchor itself was altered",
    });
    expect(checkChainAgainstAnchor(evidence({ trustedKeyId: "ed25519:new" }))).toMatchObject({
      ok: false,
      reason:
        "anchor seq 10 of 2031-06-01T12:00:00.000Z is signed by key ed25519:key, not by the configured anchor key ed25519:new",
    });
  });
});

describe("combineWithAnchor", () => {
  const walkOk = { ok: true, rows: 7, verified_through: 7, complete: true } as const;
  const summary = { seq: 10, anchored_at: "2031-06-01T12:00:00.000Z", key_id: "ed25519:key" };

  it("adds the anchor and the unanchored rows to an intact walk", () => {
    expect(
      combineWithAnchor({ ...walkOk, rows: 12, verified_through: 12 }, anchor(), { ok: true }, 12),
    ).toEqual({
      ok: true,
      rows: 12,
      verified_through: 12,
      complete: true,
      anchor: summary,
      unanchored_rows: 2,
    });
  });

  it("turns a walk that passed into a broken chain when the anchor check fails", () => {
    const check = checkChainAgainstAnchor(evidence({ head: { seq: 7, last_hash: HASH_B } }));

    expect(combineWithAnchor(walkOk, anchor(), check, 7)).toEqual({
      ok: false,
      rows_checked: 7,
      first_bad_seq: 8,
      reason:
        "rows deleted after seq 7: the chain head 7 is behind anchor seq 10 of 2031-06-01T12:00:00.000Z",
      verified_through: 7,
      complete: true,
      anchor: summary,
      unanchored_rows: 0,
    });
  });

  it("keeps the earlier bad row and both reasons, the anchor's first, when both fail", () => {
    const walk = {
      ok: false,
      rows_checked: 3,
      first_bad_seq: 4,
      reason: "signature of seq 4 does not match its content",
      verified_through: 3,
      complete: true,
    } as const;
    const check = checkChainAgainstAnchor(evidence({ rowAtAnchor: { seq: 10, signature: HASH_B } }));

    expect(combineWithAnchor(walk, anchor(), check, 12)).toMatchObject({
      ok: false,
      first_bad_seq: 4,
      rows_checked: 3,
      reason: expect.stringMatching(
        /^seq 10 \(or a row before it\) was rewritten.*anchor seq 10 of .*; the chain walk: signature of seq 4/,
      ),
    });
  });

  it("says so when there is no anchor yet, every row unanchored", () => {
    expect(combineWithAnchor(walkOk, undefined, undefined, 7)).toEqual({
      ...walkOk,
      anchor: null,
      unanchored_rows: 7,
      anchor_note: NO_ANCHOR_NOTE,
    });
  });
});

describe("anchor keys and the folder store", () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "agentforge-anchor-"));
    dirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("creates the Ed25519 key file once (0600) with its public key alongside, and signs verifiably", async () => {
    const dir = await tempDir();
    const keyPath = join(dir, ANCHOR_KEY_FILE);
    const publicPath = join(dir, ANCHOR_PUBLIC_KEY_FILE);
    const key = loadOrCreateAnchorKey(keyPath, publicPath);
    const again = loadOrCreateAnchorKey(keyPath, publicPath);
    const signer = createEd25519Signer(key);
    const verifier = createEd25519Verifier(readAnchorPublicKey(publicPath));
    const bytes = new TextEncoder().encode("anchor");

    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect(createEd25519Signer(again).keyId).toBe(signer.keyId);
    expect(signer.keyId).toMatch(/^ed25519:[0-9a-f]{32}$/);
    expect(await verifier.keyId()).toBe(signer.keyId);
    const signature = await signer.sign(bytes);
    expect(await verifier.verify(bytes, signature)).toBe(true);
    expect(await verifier.verify(new TextEncoder().encode("anchor!"), signature)).toBe(false);
    expect(await verifier.verify(bytes, new Uint8Array(3))).toBe(false);
    expect((await readdir(dir)).sort()).toEqual([ANCHOR_KEY_FILE, ANCHOR_PUBLIC_KEY_FILE]);
  });

  it("refuses a key file others can read", async () => {
    const dir = await tempDir();
    const keyPath = join(dir, ANCHOR_KEY_FILE);
    const { privateKey } = generateKeyPairSync("ed25519");
    await writeFile(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o644 });

    expect(() => loadOrCreateAnchorKey(keyPath, join(dir, ANCHOR_PUBLIC_KEY_FILE))).toThrow(
      /is readable by other users: chmod 600 it/,
    );
  });

  it("writes anchors once, read-only, and finds the newest", async () => {
    const dir = join(await tempDir(), "audit-anchors");
    const store = createFolderAnchorStore(dir);
    expect(await store.latest()).toBeUndefined();

    const older = anchor({ seq: 5 });
    const newer = anchor({ seq: 10 });
    await store.put(newer);
    await store.put(older);

    expect(await store.latest()).toEqual(newer);
    await expect(store.put(newer)).rejects.toBeInstanceOf(AnchorExistsError);
    const files = await readdir(dir);
    expect(files).toHaveLength(2);
    for (const file of files) expect((await stat(join(dir, file))).mode & 0o777).toBe(0o444);
  });
});

describe("KMS anchor key (ECDSA P-256)", () => {
  /** Stands in for KMS (there is no emulator): signs with a local P-256 key as KMS does, DER-encoded. */
  function fakeKms(keySpec = "ECC_NIST_P256") {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const calls: string[] = [];
    const client = {
      async send(command: SignCommand | GetPublicKeyCommand) {
        calls.push(command.constructor.name);
        if (command instanceof SignCommand) {
          expect(command.input).toMatchObject({ MessageType: "RAW", SigningAlgorithm: "ECDSA_SHA_256" });
          return { Signature: signWith("sha256", command.input.Message as Uint8Array, privateKey) };
        }
        return {
          KeyId: command.input.KeyId,
          PublicKey: publicKey.export({ type: "spki", format: "der" }),
          KeySpec: keySpec,
          KeyUsage: "SIGN_VERIFY",
          SigningAlgorithms: ["ECDSA_SHA_256", "ECDSA_SHA_384"],
        };
      },
    } as unknown as KmsSignClientLike;
    return { client, calls };
  }

  it("signs through Sign and verifies locally with the public key fetched once", async () => {
    const { client, calls } = fakeKms();
    const keyId = "arn:aws:kms:eu-west-1:123456789012:key/1234";
    const signer = createKmsAnchorSigner({ keyId, client });
    const verifier = createKmsAnchorVerifier({ keyId, client });
    const bytes = new TextEncoder().encode("anchor");

    const signature = await signer.sign(bytes);

    expect(signer.keyId).toBe(keyId);
    expect(await verifier.verify(bytes, signature)).toBe(true);
    expect(await verifier.verify(new TextEncoder().encode("other"), signature)).toBe(false);
    expect(await verifier.publicKeyPem()).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(calls).toEqual(["SignCommand", "GetPublicKeyCommand"]);
  });

  it("refuses a key that is not an ECC_NIST_P256 signing key", async () => {
    const { client } = fakeKms("RSA_2048");
    const verifier = createKmsAnchorVerifier({ keyId: "k", client });

    await expect(verifier.verify(new Uint8Array(1), new Uint8Array(1))).rejects.toThrow(
      /is not an ECC_NIST_P256 SIGN_VERIFY key/,
    );
  });
});

describe("auditText: what `agentforge audit verify` prints", () => {
  const summary = { seq: 12, anchored_at: "2031-06-01T12:00:00.000Z", key_id: "ed25519:key" };

  it("prints the anchor and the unanchored rows under the verdict", () => {
    expect(
      auditText({
        ok: true,
        rows: 14,
        verified_through: 14,
        complete: true,
        anchor: summary,
        unanchored_rows: 2,
      }),
    ).toBe(
      "ok: 14 audit rows verified\nanchor:          seq 12 of 2031-06-01T12:00:00.000Z (key ed25519:key)\nunanchored rows: 2",
    );
  });

  it("names the anchor on failure, and says when there is none yet", () => {
    const broken = auditText({
      ok: false,
      rows_checked: 9,
      first_bad_seq: 10,
      reason:
        "rows deleted after seq 9: the chain head 9 is behind anchor seq 12 of 2031-06-01T12:00:00.000Z",
      verified_through: 9,
      complete: true,
      anchor: summary,
      unanchored_rows: 0,
    });
    expect(broken.split("\n")[0]).toBe(
      "BROKEN at seq 10: rows deleted after seq 9: the chain head 9 is behind anchor seq 12 of 2031-06-01T12:00:00.000Z (9 rows verified before it)",
    );
    expect(
      auditText({
        ok: true,
        rows: 3,
        verified_through: 3,
        complete: true,
        anchor: null,
        unanchored_rows: 3,
        anchor_note: NO_ANCHOR_NOTE,
      }),
    ).toContain(`anchor:          none yet (${NO_ANCHOR_NOTE})`);
    // An older server answers without the anchor fields: the verdict alone.
    expect(auditText({ ok: true, rows: 3, verified_through: 3, complete: true })).toBe(
      "ok: 3 audit rows verified",
    );
  });
});
