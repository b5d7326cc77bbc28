/**
 * Bid windows are spread over {@link BID_WINDOW_SHARDS} GSI3 partitions (`OPEN_TASK#<n>`) so no single
 * partition takes every task's create and delete. The shard is a pure function of the task id, so a
 * writer never needs to read anything to find a task's window in the index.
 */

/** GSI3 partitions of bid windows. Changing it moves existing windows' shards: migrate them first. */
export const BID_WINDOW_SHARDS = 8;

/** 32-bit FNV-1a of the UTF-8 bytes of `text`. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The GSI3 shard of the task's bid window: an integer in [0, {@link BID_WINDOW_SHARDS}). */
export function bidWindowShard(taskId: string): number {
  return fnv1a(taskId) % BID_WINDOW_SHARDS;
}
