import { createHash, timingSafeEqual } from "node:crypto";
import type { StoredApiKey } from "../../ports/agent-repository.js";
import { apiKeyId, apiKeyMatches } from "./api-key.js";
import type { Principal } from "./principal.js";

export interface OperatorToken {
  name: string;
  token: string;
}

export interface AuthenticatorOptions {
  /** Every operator's current (and, during a rotation, previous) token; may throw when unavailable. */
  operators: () => Promise<OperatorToken[]>;
  /** Looks an agent API key up by its public id. */
  apiKeys: { getApiKey(keyId: string): Promise<StoredApiKey | undefined> };
  now?: () => Date;
}

/** Why a request is not authenticated. Only for logs and metrics: the client just gets 401. */
export type AuthFailure = "missing" | "malformed" | "unknown_token" | "unknown_key" | "expired_key";

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: AuthFailure };

const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;
const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();

/**
 * Resolves an `Authorization: Bearer …` header to a principal: an agent API key (`afk_…`, one
 * consistent `GetItem` by its key id, then a constant-time hash comparison and its overlap deadline)
 * or an operator token (compared in constant time with every operator's, hashed first so length
 * leaks nothing). Used by the gateway's authorizer and by the REST function when it is invoked
 * without one.
 */
export function createAuthenticator({ operators, apiKeys, now = () => new Date() }: AuthenticatorOptions) {
  return async function authenticate(header: string | undefined): Promise<AuthResult> {
    if (!header) return { ok: false, reason: "missing" };
    const token = BEARER.exec(header)?.[1];
    if (!token) return { ok: false, reason: "malformed" };

    const keyId = apiKeyId(token);
    if (keyId) {
      const stored = await apiKeys.getApiKey(keyId);
      if (!stored || !apiKeyMatches(token, stored.key_hash)) return { ok: false, reason: "unknown_key" };
      if (stored.not_after && Date.parse(stored.not_after) <= now().getTime()) {
        return { ok: false, reason: "expired_key" };
      }
      return { ok: true, principal: { kind: "agent", agentId: stored.agent_id } };
    }

    const presented = digest(token);
    let match: string | undefined;
    // Every candidate is compared, so the time taken does not say which (or whether one) matched.
    for (const operator of await operators()) {
      if (timingSafeEqual(presented, digest(operator.token)) && match === undefined) match = operator.name;
    }
    return match === undefined
      ? { ok: false, reason: "unknown_token" }
      : { ok: true, principal: { kind: "operator", name: match } };
  };
}

export type Authenticate = ReturnType<typeof createAuthenticator>;
