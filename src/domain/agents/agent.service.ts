import { z } from "zod";
import type { AgentRepository } from "../../ports/agent-repository.js";
import type { Page, PageRequest } from "../../ports/pagination.js";
import { generateAgentSecret } from "../bidding/signing.js";
import { actorNameSchema, agentIdSchema, auditNoteSchema } from "../common.schema.js";
import { NotFoundError } from "../errors.js";
import { parseOrThrow } from "../validation.js";
import {
  type AgentRegistration,
  agentRegistrationSchema,
  type BiddingEndpointPolicy,
  capabilitySchema,
} from "./agent.schema.js";
import type { AgentListing, AgentProfile } from "./agent.types.js";

export interface AgentServiceOptions {
  agents: AgentRepository;
  endpointPolicy: BiddingEndpointPolicy;
}

/** Agent use cases: every input is validated here, so adapters only ever see well-formed values. */
export function createAgentService({ agents, endpointPolicy }: AgentServiceOptions) {
  const registrationSchema = agentRegistrationSchema(endpointPolicy);
  const agentId = (value: unknown) => parseOrThrow(agentIdSchema, value, "agent_id");

  return {
    /** Registers a new agent or updates an existing one's registration fields. */
    /**
     * Registers a new agent or updates an existing one's registration fields. A new agent's
     * bid-signing secret is returned here once (`secret`), and never again.
     */
    async register(input: unknown): Promise<{ profile: AgentProfile; created: boolean; secret?: string }> {
      const registration: AgentRegistration = parseOrThrow(registrationSchema, input, "agent registration");
      return agents.saveRegistration(registration, { secretIfNew: generateAgentSecret() });
    },

    /** Issues a new bid-signing secret; the old one stops working at once. Returned only here. */
    async rotateSecret(id: unknown): Promise<{ agent_id: string; secret: string }> {
      const validId = agentId(id);
      const secret = generateAgentSecret();
      await agents.rotateSecret(validId, secret);
      return { agent_id: validId, secret };
    },

    async get(id: unknown): Promise<AgentProfile> {
      const validId = agentId(id);
      const profile = await agents.getProfile(validId);
      if (!profile) throw new NotFoundError("agent", validId);
      return profile;
    },

    /**
     * Engages (`true`) or releases the kill switch, recording who did it and why (validated here:
     * both end up in the audit log).
     */
    async setKillSwitch(id: unknown, active: boolean, change: unknown = {}): Promise<AgentProfile> {
      const validId = agentId(id);
      const { actor, reason } = parseOrThrow(killSwitchChangeSchema, change, "kill switch change");
      return agents.setKillSwitch(validId, active, { actor, ...(reason ? { reason } : {}) });
    },

    async findByCapability(capability: unknown, page?: PageRequest): Promise<Page<AgentListing>> {
      return agents.findByCapability(parseOrThrow(capabilitySchema, capability, "capability"), page);
    },
  };
}

/** Who flips a kill switch and why: short printable text, no control characters. */
export const killSwitchChangeSchema = z.strictObject({
  actor: actorNameSchema.default("api"),
  reason: auditNoteSchema.optional(),
});

export type AgentService = ReturnType<typeof createAgentService>;
