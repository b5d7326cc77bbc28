/**
 * Who is calling. Operators are named humans (their name reaches the audit log); agents act only for
 * themselves, with their own API key. Every route checks the principal before it changes or reveals
 * anything, and every audit actor, approval reviewer and escrow judge is {@link actorOf} it.
 */
export type Principal = { kind: "operator"; name: string } | { kind: "agent"; agentId: string };

/** `operator:<name>` or `agent:<id>`: the principal as the audit log names it. */
export function actorOf(principal: Principal): string {
  return principal.kind === "operator" ? `operator:${principal.name}` : `agent:${principal.agentId}`;
}

const OPERATOR_ACTOR = /^operator:([a-z0-9][a-z0-9._-]{0,63})$/;
const AGENT_ACTOR = /^agent:([A-Za-z0-9][A-Za-z0-9._-]{0,127})$/;

/**
 * The inverse of {@link actorOf}, for the authorizer's context: the gateway passes the principal to
 * the function as this string. Anything else is `undefined` (and the caller refuses the request).
 */
export function principalFromActor(actor: unknown): Principal | undefined {
  if (typeof actor !== "string") return undefined;
  const operator = OPERATOR_ACTOR.exec(actor);
  if (operator?.[1]) return { kind: "operator", name: operator[1] };
  const agent = AGENT_ACTOR.exec(actor);
  if (agent?.[1]) return { kind: "agent", agentId: agent[1] };
  return undefined;
}

/** Operator names: short, lowercase, safe in logs and audit rows. */
export const OPERATOR_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** The operator that `AGENTFORGE_API_TOKEN` authenticates. */
export const DEFAULT_OPERATOR = "default";

/** Where the gateway authorizer puts the principal (as {@link actorOf}) in the request context. */
export const PRINCIPAL_CONTEXT_KEY = "principal";
