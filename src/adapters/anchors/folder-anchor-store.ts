import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  ANCHOR_FILE_NAME,
  type AuditAnchor,
  anchorFileName,
  parseAuditAnchor,
} from "../../domain/governance/audit-anchor.js";
import { AnchorExistsError, type AnchorStore } from "../../ports/audit-anchor.js";
import { createFileExclusively } from "./ed25519-anchor-key.js";

/** The folder under the data directory. */
export const ANCHOR_DIR = "audit-anchors";

/**
 * Anchors as files in one folder, the local stand-in for an Object Lock bucket: each is created
 * exclusively (never overwritten) and read-only (0444); names sort newest first (see
 * {@link anchorFileName}). Only the file system's permissions protect them: keep the data directory
 * out of reach of whoever can reach the database.
 */
export function createFolderAnchorStore(dir: string): AnchorStore {
  return {
    location: dir,
    async put(anchor) {
      const name = anchorFileName(anchor);
      if (!createFileExclusively(join(dir, name), `${JSON.stringify(anchor, null, 2)}\n`, 0o444)) {
        throw new AnchorExistsError(name);
      }
    },
    async latest() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
      const newest = names.filter((name) => ANCHOR_FILE_NAME.test(name)).sort()[0];
      if (!newest) return undefined;
      const path = join(dir, newest);
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(path, "utf8"));
      } catch (error) {
        throw new Error(`The audit anchor ${path} cannot be read: ${(error as Error).message}`);
      }
      return parseAuditAnchor(parsed, path);
    },
  };
}

/**
 * Anchors in this process's memory: the in-memory local stack and tests. Append-only like the others;
 * gone with the process, as the in-memory database is.
 */
export function createMemoryAnchorStore(): AnchorStore & { all(): AuditAnchor[] } {
  const anchors = new Map<string, AuditAnchor>();
  return {
    location: "memory",
    async put(anchor) {
      const name = anchorFileName(anchor);
      if (anchors.has(name)) throw new AnchorExistsError(name);
      anchors.set(name, structuredClone(anchor));
    },
    async latest() {
      const newest = [...anchors.keys()].sort()[0];
      const anchor = newest ? anchors.get(newest) : undefined;
      return anchor ? structuredClone(anchor) : undefined;
    },
    all: () => [...anchors.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, a]) => a),
  };
}
