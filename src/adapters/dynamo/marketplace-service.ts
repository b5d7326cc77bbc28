import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { Entity, Service } from "electrodb";
import { agentApiKeySchema, agentKeyRefSchema } from "./entities/agent-api-key.entity.js";
import { agentProfileSchema } from "./entities/agent-profile.entity.js";
import { agentSecretSchema } from "./entities/agent-secret.entity.js";
import { capabilityEdgeSchema } from "./entities/capability-edge.entity.js";
import { capabilityStatsSchema } from "./entities/capability-stats.entity.js";
import { endpointCircuitSchema } from "./entities/endpoint-circuit.entity.js";
import { ledgerEntrySchema } from "./entities/ledger-entry.entity.js";
import { messageNonceSchema } from "./entities/message-nonce.entity.js";
import { pullRequestLinkSchema } from "./entities/pull-request-link.entity.js";
import {
  awardSchema,
  bidRejectionSchema,
  bidSchema,
  bidWindowSchema,
  taskSchema,
} from "./entities/task.entity.js";
import { webhookBodySchema, webhookDeliverySchema } from "./entities/webhook-delivery.entity.js";

export interface TableBinding {
  client: DynamoDBDocumentClient;
  table: string;
}

/** The one ElectroDB service over the marketplace table; repositories are its only users. */
export function createMarketplaceService({ client, table }: TableBinding) {
  const config = { client, table };
  return new Service(
    {
      agentProfile: new Entity(agentProfileSchema, config),
      capabilityEdge: new Entity(capabilityEdgeSchema, config),
      capabilityStats: new Entity(capabilityStatsSchema, config),
      agentSecret: new Entity(agentSecretSchema, config),
      agentApiKey: new Entity(agentApiKeySchema, config),
      agentKeyRef: new Entity(agentKeyRefSchema, config),
      task: new Entity(taskSchema, config),
      bidWindow: new Entity(bidWindowSchema, config),
      bid: new Entity(bidSchema, config),
      bidRejection: new Entity(bidRejectionSchema, config),
      award: new Entity(awardSchema, config),
      ledgerEntry: new Entity(ledgerEntrySchema, config),
      webhookDelivery: new Entity(webhookDeliverySchema, config),
      webhookBody: new Entity(webhookBodySchema, config),
      pullRequestLink: new Entity(pullRequestLinkSchema, config),
      messageNonce: new Entity(messageNonceSchema, config),
      endpointCircuit: new Entity(endpointCircuitSchema, config),
    },
    config,
  );
}

export type MarketplaceService = ReturnType<typeof createMarketplaceService>;
