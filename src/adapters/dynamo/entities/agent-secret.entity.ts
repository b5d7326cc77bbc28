import { ENTITY_VERSION, SERVICE_NAME } from "./model.js";

/**
 * `AGENT#<agent_id>` / `SECRET`: the agent's bid-signing secret, kept off the profile so that no
 * profile read or capability query ever carries it. Only ciphertext is written (envelope encryption,
 * `src/adapters/crypto/secret-envelope.ts`: `v1.<kms|local>.<wrapped data key>.<iv>.<ciphertext>`,
 * bound to the agent id), so nothing written since holds a secret in clear: only items from before
 * encryption at rest do, until re-encrypted (and their old images, in the stream and older backups).
 */
export const agentSecretSchema = {
  model: { entity: "agent_secret", version: ENTITY_VERSION, service: SERVICE_NAME },
  attributes: {
    type: { type: ["AGENT_SECRET"] as const, required: true, default: "AGENT_SECRET", readOnly: true },
    agent_id: { type: "string", required: true, readOnly: true },
    /** The current secret, sealed. */
    secret_ciphertext: { type: "string" },
    /** The secret the last rotation replaced, sealed; it verifies until `previous_valid_until`. */
    previous_secret_ciphertext: { type: "string" },
    /** End of the previous secret's overlap (ISO instant, exclusive). */
    previous_valid_until: { type: "string" },
    /**
     * Legacy: the plaintext secret of items written before encryption at rest. Never written now; an
     * item that still has it is re-encrypted on first use or by `npm run secrets:encrypt`.
     */
    secret: { type: "string" },
    rotated_at: { type: "string", required: true },
  },
  indexes: {
    primary: {
      pk: { field: "PK", composite: ["agent_id"], template: "AGENT#${agent_id}", casing: "none" },
      sk: { field: "SK", composite: [], template: "SECRET", casing: "none" },
    },
  },
} as const;
