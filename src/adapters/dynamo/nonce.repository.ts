import type { NonceStore } from "../../ports/nonce-store.js";
import { isConditionalCheckFailed } from "./dynamo-errors.js";
import type { MarketplaceService } from "./marketplace-service.js";

/** DynamoDB {@link NonceStore}: one conditional put per message, nothing read first. */
export function createNonceRepository({ service }: { service: MarketplaceService }): NonceStore {
  const { messageNonce } = service.entities;
  return {
    async claim(claim) {
      try {
        await messageNonce
          .put(claim)
          .where(
            (attr, { notExists, eq }) =>
              `(${notExists(attr.message_id)} OR ${eq(attr.message_id, claim.message_id)})`,
          )
          .go({ response: "none" });
        return true;
      } catch (error) {
        if (isConditionalCheckFailed(error)) return false;
        throw error;
      }
    },
  };
}
