import { createHash, timingSafeEqual } from "node:crypto";

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/**
 * Checks an `Authorization: Bearer <token>` header in constant time. Both sides are hashed first,
 * so neither the comparison time nor an early length check reveals anything about the token.
 */
export function bearerMatches(header: string | undefined, expected: string): boolean {
  if (!header || expected.length === 0) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) return false;
  return timingSafeEqual(digest(match[1]), digest(expected));
}
