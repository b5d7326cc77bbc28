import type { AnchorStore } from "../../ports/audit-anchor.js";
import { createMemoryAnchorStore } from "./folder-anchor-store.js";

/**
 * Anchors kept in this process's memory (`--in-memory`), one store per in-memory database. Apart
 * from open-audit-anchors.ts so the embedded-store registry can forget them without loading the
 * anchor keys' and buckets' clients.
 */
const memoryStores = new Map<string, AnchorStore>();

export function memoryAnchorStore(key: string): AnchorStore {
  let store = memoryStores.get(key);
  if (!store) {
    store = createMemoryAnchorStore();
    memoryStores.set(key, store);
  }
  return store;
}

/** Drops the in-memory anchors of a database that is gone (an in-memory PGlite closed). */
export function forgetMemoryAnchors(memoryKey = ":memory:"): void {
  memoryStores.delete(memoryKey);
}
