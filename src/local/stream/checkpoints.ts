import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { compareSequenceNumbers } from "../../adapters/dynamo/stream-records.js";
import type { CheckpointStore } from "./types.js";

/**
 * Checkpoints: where a consumer got to in each shard. The stores persist them (memory, or a JSON
 * file for the local stack); `createCheckpoints` is the source's view of them, which only ever moves
 * a shard's checkpoint forward.
 */

/** Checkpoints kept in this process only. */
export function createMemoryCheckpointStore(initial: Record<string, string> = {}): CheckpointStore {
  const checkpoints = new Map(Object.entries(initial));
  return {
    async load() {
      return Object.fromEntries(checkpoints);
    },
    async save(shardId, sequenceNumber) {
      checkpoints.set(shardId, sequenceNumber);
    },
  };
}

interface CheckpointFile {
  version: 1;
  shards: Record<string, string>;
}

/** Reads a checkpoint file's text; throws a message naming the file and a fix when it is not one. */
export function parseCheckpointFile(text: string, path: string): Record<string, string> {
  const fix = `Delete ${path} to read the stream again from the starting position, or restore it to the form {"version":1,"shards":{"<shardId>":"<sequenceNumber>"}}.`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`Checkpoint file ${path} is not valid JSON (${(error as Error).message}). ${fix}`);
  }
  const shards = (parsed as Partial<CheckpointFile> | null)?.shards;
  const valid =
    typeof parsed === "object" &&
    parsed !== null &&
    (parsed as Partial<CheckpointFile>).version === 1 &&
    typeof shards === "object" &&
    shards !== null &&
    !Array.isArray(shards) &&
    Object.values(shards).every((seq) => typeof seq === "string" && /^\d+$/.test(seq));
  if (!valid) throw new Error(`Checkpoint file ${path} is not a stream checkpoint file. ${fix}`);
  return { ...shards };
}

/**
 * Checkpoints in a JSON file, so a restarted local stack resumes where it stopped. Every save
 * rewrites the file through a synced temporary file and a rename, so a crash leaves either the old
 * or the new file, never half of one. Saves are serialised.
 */
export function createFileCheckpointStore(path: string): CheckpointStore {
  let checkpoints: Map<string, string> | undefined;
  let writes: Promise<void> = Promise.resolve();

  const read = async (): Promise<Map<string, string>> => {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return new Map();
      throw error;
    }
    return new Map(Object.entries(parseCheckpointFile(text, path)));
  };

  const write = async (snapshot: Record<string, string>) => {
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    const body: CheckpointFile = { version: 1, shards: snapshot };
    try {
      const file = await open(temp, "w");
      try {
        await file.writeFile(`${JSON.stringify(body, null, 2)}\n`, "utf8");
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  };

  return {
    async load() {
      checkpoints = await read();
      return Object.fromEntries(checkpoints);
    },
    save(shardId, sequenceNumber) {
      const next = writes.then(async () => {
        checkpoints ??= await read();
        checkpoints.set(shardId, sequenceNumber);
        await write(Object.fromEntries(checkpoints));
      });
      // One failed write must not wedge every later one; the caller still sees its own failure.
      writes = next.catch(() => {});
      return next;
    },
  };
}

/** The checkpoints a source works with: loaded from its store, saved through it, never moved back. */
export interface Checkpoints {
  /** Adds what the store holds (once, before the first read). */
  load(): Promise<void>;
  get(shardId: string): string | undefined;
  has(shardId: string): boolean;
  /** Forgets a shard's checkpoint in memory only (its records past it were trimmed). */
  delete(shardId: string): void;
  readonly size: number;
  /** Saves `sequenceNumber` unless it is empty or not beyond the shard's checkpoint. */
  advance(shardId: string, sequenceNumber: string | undefined): Promise<void>;
}

export function createCheckpoints(store: CheckpointStore): Checkpoints {
  const checkpoints = new Map<string, string>();
  return {
    async load() {
      const loaded = await store.load();
      for (const [shardId, sequenceNumber] of Object.entries(loaded)) {
        checkpoints.set(shardId, sequenceNumber);
      }
    },
    get: (shardId) => checkpoints.get(shardId),
    has: (shardId) => checkpoints.has(shardId),
    delete: (shardId) => {
      checkpoints.delete(shardId);
    },
    get size() {
      return checkpoints.size;
    },
    async advance(shardId, sequenceNumber) {
      if (!sequenceNumber) return;
      const current = checkpoints.get(shardId);
      if (current !== undefined && compareSequenceNumbers(sequenceNumber, current) <= 0) return;
      await store.save(shardId, sequenceNumber);
      checkpoints.set(shardId, sequenceNumber);
    },
  };
}
