/**
 * Container-scoped memoisation: what a Lambda builds once and keeps for the container's life.
 */

/** Caches an async build; a failed build is not cached, so the next call (the next invocation) retries. */
export function lazily<T>(build: () => T | Promise<T>): () => Promise<T> {
  let cached: Promise<T> | undefined;
  return () => {
    cached ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        cached = undefined;
        throw error;
      });
    return cached;
  };
}

/** Caches a synchronous build on first use; a build that throws is tried again on the next call. */
export function lazySync<T>(build: () => T): () => T {
  let value: { built: T } | undefined;
  return () => {
    value ??= { built: build() };
    return value.built;
  };
}
