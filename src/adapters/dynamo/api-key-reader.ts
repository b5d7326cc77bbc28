import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { StoredApiKey } from "../../ports/agent-repository.js";

/**
 * The authorizer's only table access: one consistent `GetItem` of `APIKEY#<key id>` / `APIKEY`, the
 * item `agentApiKeySchema` describes. Plain SDK rather than ElectroDB so the authorizer, which runs
 * before every REST request, stays small; the integration tests read keys written by the repository
 * through it, so the two cannot disagree on the item.
 */
export function createApiKeyReader({ client, table }: { client: DynamoDBDocumentClient; table: string }) {
  return {
    async getApiKey(keyId: string): Promise<StoredApiKey | undefined> {
      const { Item: item } = await client.send(
        new GetCommand({
          TableName: table,
          Key: { PK: `APIKEY#${keyId}`, SK: "APIKEY" },
          ConsistentRead: true,
          ProjectionExpression: "#t, key_id, agent_id, key_hash, created_at, not_after",
          ExpressionAttributeNames: { "#t": "type" },
        }),
      );
      if (
        item?.type !== "AGENT_API_KEY" ||
        typeof item.agent_id !== "string" ||
        typeof item.key_hash !== "string" ||
        item.key_id !== keyId
      ) {
        return undefined;
      }
      return {
        key_id: keyId,
        agent_id: item.agent_id,
        key_hash: item.key_hash,
        created_at: String(item.created_at),
        ...(typeof item.not_after === "string" ? { not_after: item.not_after } : {}),
      };
    },
  };
}
