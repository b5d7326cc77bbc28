import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { AnchorSigner, AnchorVerifier } from "../../ports/audit-anchor.js";

/**
 * The local anchor key: an Ed25519 key pair. The private key is a PKCS#8 PEM file, mode 0600, created
 * on first use and never overwritten; its public key (SPKI PEM) is written alongside for verifiers
 * that should not hold the private key. The key id is `ed25519:` and the first 32 hex digits of the
 * SHA-256 of the public key's DER, so a replaced key file shows as another key id.
 */

/** File names under the data directory. */
export const ANCHOR_KEY_FILE = "audit-anchor-key.pem";
export const ANCHOR_PUBLIC_KEY_FILE = "audit-anchor-key.pub.pem";

export function ed25519KeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return `ed25519:${createHash("sha256").update(der).digest("hex").slice(0, 32)}`;
}

/** Signs with an Ed25519 private key held in this process. */
export function createEd25519Signer(privateKey: KeyObject): AnchorSigner {
  const keyId = ed25519KeyId(createPublicKey(privateKey));
  return {
    keyId,
    algorithm: "Ed25519",
    sign: async (bytes) => sign(null, bytes, privateKey),
  };
}

/** Verifies Ed25519 anchors with a public key. */
export function createEd25519Verifier(publicKey: KeyObject): AnchorVerifier {
  if (publicKey.asymmetricKeyType !== "ed25519")
    throw new Error("The anchor public key is not an Ed25519 key");
  const keyId = ed25519KeyId(publicKey);
  const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
  return {
    keyId: async () => keyId,
    algorithm: "Ed25519",
    publicKeyPem: async () => pem,
    async verify(bytes, signature) {
      try {
        return verify(null, bytes, publicKey, signature);
      } catch {
        return false;
      }
    },
  };
}

/**
 * Writes `content` to `path` only if nothing is there: a temporary file is completed first and then
 * hard-linked into place, which fails with EEXIST when the name is taken. So a reader never sees a
 * half-written file and two writers never both win. True when this call created it.
 */
export function createFileExclusively(path: string, content: string, mode: number): boolean {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, content, { flag: "wx", mode });
  try {
    chmodSync(temporary, mode);
    linkSync(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    unlinkSync(temporary);
  }
}

/**
 * The private key at `path`, created (mode 0600) when missing; the public key file `publicPath` is
 * (re)written from it when missing. A key file readable by others is refused, as for SSH keys.
 */
export function loadOrCreateAnchorKey(path: string, publicPath: string): KeyObject {
  const { privateKey } = generateKeyPairSync("ed25519");
  createFileExclusively(path, privateKey.export({ type: "pkcs8", format: "pem" }).toString(), 0o600);
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(
      `Cannot read the audit anchor key ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  if (process.platform !== "win32" && (statSync(path).mode & 0o077) !== 0) {
    throw new Error(`The audit anchor key ${path} is readable by other users: chmod 600 it`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new Error(`The audit anchor key ${path} is not a PEM private key: restore it from a backup`);
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new Error(`The audit anchor key ${path} is not an Ed25519 key`);
  }
  createFileExclusively(
    publicPath,
    createPublicKey(key).export({ type: "spki", format: "pem" }).toString(),
    0o644,
  );
  return key;
}

/** Reads a public key PEM file (what a verifier without the private key uses). */
export function readAnchorPublicKey(path: string): KeyObject {
  try {
    return createPublicKey(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`Cannot read the audit anchor public key ${path}: ${(error as Error).message}`);
  }
}

let ephemeral: KeyObject | undefined;

/**
 * One key pair for this process, in memory: the in-memory local stack (whose database and anchors
 * are in memory too). Every function of the stack runs in this one process and shares it.
 */
export function processEphemeralAnchorKey(): KeyObject {
  ephemeral ??= generateKeyPairSync("ed25519").privateKey;
  return ephemeral;
}
