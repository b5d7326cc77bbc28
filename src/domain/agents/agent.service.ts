import * as z from "zod";
import type { AgentRepository } from "../../ports/agent-repository.js";
import type { Page, PageRequest } from "../../ports/pagination.js";
import { generateAgentSecret } from "../bidding/signing.js";
import { agentIdSchema, auditNoteSchema } from "../common.schema.js";
import { ForbiddenError, NotFoundError, ValidationError } from "../errors.js";
import { generateApiKey } from "../identity/api-key.js";
import { actorOf, type Principal } from "../identity/principal.js";
import { parseOrThrow } from "../validation.js";
import {
  type AgentRegistration,
  agentRegistrationSchema,
  type BiddingEndpointPolicy,
  capabilitySchema,
} from "./agent.schema.js";
import { type AgentListing, type AgentProfile, isListed } from "./agent.types.js";

export interface AgentServiceOptions {
  agents: AgentRepository;
  endpointPolicy: BiddingEndpointPolicy;
  /** How long a rotated-out API key keeps working (default 10 minutes). */
  apiKeyOverlapSeconds?: number;
  /** How long a replaced bid-signing secret keeps verifying (default 10 minutes). */
  secretRotationOverlapSeconds?: number;
}

export const DEFAULT_API_KEY_OVERLAP_SECONDS = 600;
export const DEFAULT_SECRET_ROTATION_OVERLAP_SECONDS = 600;

/** A rotated bid-signing secret, returned only once. */
export interface SecretRotationResult {
  agent_id: string;
  secret: string;
  /**
   * Until this instant (exclusive) messages signed with the replaced secret still verify, so the
   * agent can switch without losing answers in flight. Absent when the overlap is 0.
   */
  previous_valid_until?: string;
}

/** Fields of a registration body an agent may not set on itself: an operator's decision. */
const OPERATOR_ONLY_FIELDS = ["status", "kill_switch_active", "trust_score", "audit_level"] as const;

export interface RegistrationResult {
  profile: AgentProfile;
  created: boolean;
  /** A new agent's bid-signing secret and API key: returned here once, never stored in clear. */
  secret?: string;
  apiKey?: string;
}

/**
 * Agent use cases: every input is validated here, so adapters only ever see well-formed values, and
 * every change is checked against the principal making it (an agent acts only on itself).
 */
export function createAgentService({
  agents,
  endpointPolicy,
  apiKeyOverlapSeconds = DEFAULT_API_KEY_OVERLAP_SECONDS,
  secretRotationOverlapSeconds = DEFAULT_SECRET_ROTATION_OVERLAP_SECONDS,
}: AgentServiceOptions) {
  const registrationSchema = agentRegistrationSchema(endpointPolicy);
  const agentId = (value: unknown) => parseOrThrow(agentIdSchema, value, "agent_id");

  /** An agent changing itself must exist and be allowed to act (not kill-switched or suspended). */
  async function assertActiveSelf(principal: Principal, id: string, permission: string) {
    if (principal.kind === "operator") return;
    if (principal.agentId !== id) {
      throw new ForbiddenError(permission, `${actorOf(principal)} may not ${permission} for another agent`);
    }
    const profile = await agents.getProfile(id);
    if (!profile) throw new NotFoundError("agent", id);
    if (!isListed(profile)) {
      throw new ForbiddenError(
        permission,
        `${actorOf(principal)} is ${profile.kill_switch_active ? "kill-switched" : "suspended"}: ${permission} needs an operator`,
      );
    }
  }

  return {
    /**
     * Registers a new agent (operators only) or updates a registration: an operator any agent's, an
     * agent its own listing (capabilities, cost model, bidding endpoint, wallet) but never its status.
     * A new agent's bid-signing secret and API key are returned here once (`secret`, `apiKey`).
     */
    async register(input: unknown, principal: Principal): Promise<RegistrationResult> {
      if (principal.kind === "agent") {
        const body = (typeof input === "object" && input !== null ? input : {}) as Record<string, unknown>;
        const forbidden = OPERATOR_ONLY_FIELDS.filter((field) => field in body);
        if (forbidden.length > 0) {
          throw new ForbiddenError(
            "agents:set-status",
            `${actorOf(principal)} may not set ${forbidden.join(", ")}: agents:set-status is operator only`,
          );
        }
      }
      const registration: AgentRegistration = parseOrThrow(registrationSchema, input, "agent registration");
      // An agent only ever updates itself (it cannot create agents: its own profile must exist).
      if (principal.kind === "agent") {
        await assertActiveSelf(principal, registration.agent_id, "agents:register");
      }
      const apiKey = principal.kind === "operator" ? generateApiKey() : undefined;
      const saved = await agents.saveRegistration(registration, {
        actor: actorOf(principal),
        ...(apiKey
          ? {
              secretIfNew: generateAgentSecret(),
              apiKeyIfNew: { keyId: apiKey.keyId, keyHash: apiKey.keyHash },
            }
          : {}),
      });
      return {
        profile: saved.profile,
        created: saved.created,
        ...(saved.secret !== undefined ? { secret: saved.secret } : {}),
        ...(saved.apiKeyCreated && apiKey ? { apiKey: apiKey.apiKey } : {}),
      };
    },

    /**
     * Issues a new bid-signing secret, returned only here. Messages signed with the replaced one keep
     * verifying until `previous_valid_until` (the configured overlap), then fail.
     */
    async rotateSecret(
      id: unknown,
      principal: Principal,
      options: { previous?: unknown } = {},
    ): Promise<SecretRotationResult> {
      const validId = agentId(id);
      const previous = options.previous ?? "keep";
      if (previous !== "keep" && previous !== "revoke") {
        throw new ValidationError("previous must be keep or revoke", [
          { path: "previous", message: "must be keep (verify for the overlap) or revoke (stop at once)" },
        ]);
      }
      await assertActiveSelf(principal, validId, "agents:rotate-secret");
      const secret = generateAgentSecret();
      // `revoke` is for a leaked secret: messages signed with it fail from this moment.
      const overlap = previous === "revoke" ? 0 : secretRotationOverlapSeconds;
      const rotation = await agents.rotateSecret(validId, secret, overlap);
      return { agent_id: validId, secret, ...rotation };
    },

    /**
     * Issues a new API key, returned only here. The previous key keeps working until
     * `previous_key_valid_until` (the configured overlap), then fails.
     */
    async rotateApiKey(
      id: unknown,
      principal: Principal,
    ): Promise<{ agent_id: string; api_key: string; previous_key_valid_until: string }> {
      const validId = agentId(id);
      await assertActiveSelf(principal, validId, "agents:rotate-key");
      const key = generateApiKey();
      const validUntil = new Date(Date.now() + apiKeyOverlapSeconds * 1000).toISOString();
      await agents.rotateApiKey(validId, { keyId: key.keyId, keyHash: key.keyHash }, apiKeyOverlapSeconds);
      return { agent_id: validId, api_key: key.apiKey, previous_key_valid_until: validUntil };
    },

    async get(id: unknown): Promise<AgentProfile> {
      const validId = agentId(id);
      const profile = await agents.getProfile(validId);
      if (!profile) throw new NotFoundError("agent", validId);
      return profile;
    },

    /**
     * Engages (`true`) or releases the kill switch, recording who did it (the operator's principal)
     * and why (validated here: both end up in the audit log).
     */
    async setKillSwitch(
      id: unknown,
      active: boolean,
      principal: Principal,
      change: unknown = {},
    ): Promise<AgentProfile> {
      if (principal.kind !== "operator") {
        throw new ForbiddenError("agents:kill", "agents:kill is operator only");
      }
      const validId = agentId(id);
      const { reason } = parseOrThrow(killSwitchChangeSchema, change, "kill switch change");
      return agents.setKillSwitch(validId, active, {
        actor: actorOf(principal),
        ...(reason ? { reason } : {}),
      });
    },

    async findByCapability(capability: unknown, page?: PageRequest): Promise<Page<AgentListing>> {
      return agents.findByCapability(parseOrThrow(capabilitySchema, capability, "capability"), page);
    },
  };
}

/** Why a kill switch was flipped: short printable text. Who did it comes from the credentials. */
export const killSwitchChangeSchema = z.strictObject({
  reason: auditNoteSchema.optional(),
});

export type AgentService = ReturnType<typeof createAgentService>;
