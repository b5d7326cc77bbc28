import { forgetMemoryAnchors } from "../adapters/anchors/memory-anchors.js";
import type { GovernanceStore } from "../ports/governance-store.js";

/**
 * Embedded PGlite databases open in this process, one per directory (or memory). On AWS every
 * function has its own container and PGlite is never used, but the local stack runs every function
 * in one process: two PGlite instances on one directory would corrupt it, and two in memory would be
 * two different databases. Each caller gets a handle whose `close()` releases it; the database
 * closes with its last handle.
 */
const embeddedStores = new Map<string, { store: Promise<GovernanceStore>; handles: number }>();

/** The embedded store under `key` (a directory, or ":memory:"), opened by `open` on first use. */
export async function shareEmbeddedStore(
  key: string,
  open: () => Promise<GovernanceStore>,
): Promise<GovernanceStore> {
  let entry = embeddedStores.get(key);
  if (!entry) {
    const opened = { store: open(), handles: 0 };
    embeddedStores.set(key, opened);
    opened.store.catch(() => {
      if (embeddedStores.get(key) === opened) embeddedStores.delete(key);
    });
    entry = opened;
  }
  const shared = entry;
  shared.handles += 1;
  let store: GovernanceStore;
  try {
    store = await shared.store;
  } catch (error) {
    shared.handles -= 1;
    throw error;
  }
  let released = false;
  return {
    ...store,
    close: async () => {
      if (released) return;
      released = true;
      shared.handles -= 1;
      if (shared.handles > 0) return;
      if (embeddedStores.get(key) === shared) embeddedStores.delete(key);
      // In-memory anchors belong to the in-memory database: a new one starts without them.
      if (key === ":memory:") forgetMemoryAnchors();
      await store.close();
    },
  };
}

/**
 * Closes every embedded database of this process whatever handles remain (functions keep theirs for
 * the container's life): the local stack's shutdown, so PGlite flushes to disk before the exit.
 */
export async function closeEmbeddedGovernanceStores(): Promise<void> {
  const entries = [...embeddedStores.values()];
  embeddedStores.clear();
  forgetMemoryAnchors();
  await Promise.all(
    entries.map(async (entry) => {
      const store = await entry.store.catch(() => undefined);
      await store?.close();
    }),
  );
}
