import { describe, expect, it } from "vitest";
import { agentProfileSchema } from "../../src/adapters/dynamo/entities/agent-profile.entity.js";
import { agentSecretSchema } from "../../src/adapters/dynamo/entities/agent-secret.entity.js";
import { capabilityEdgeSchema } from "../../src/adapters/dynamo/entities/capability-edge.entity.js";
import { capabilityStatsSchema } from "../../src/adapters/dynamo/entities/capability-stats.entity.js";
import { ledgerEntrySchema } from "../../src/adapters/dynamo/entities/ledger-entry.entity.js";
import { pullRequestLinkSchema } from "../../src/adapters/dynamo/entities/pull-request-link.entity.js";
import {
  awardSchema,
  bidRejectionSchema,
  bidSchema,
  bidWindowSchema,
  taskSchema,
} from "../../src/adapters/dynamo/entities/task.entity.js";
import { webhookDeliverySchema } from "../../src/adapters/dynamo/entities/webhook-delivery.entity.js";
import { createTableInput, TABLE } from "../../src/adapters/dynamo/table-definition.js";

const entities = [
  agentProfileSchema,
  capabilityEdgeSchema,
  taskSchema,
  bidWindowSchema,
  bidSchema,
  awardSchema,
  ledgerEntrySchema,
  webhookDeliverySchema,
  pullRequestLinkSchema,
  agentSecretSchema,
  capabilityStatsSchema,
  bidRejectionSchema,
];

describe("the single table definition", () => {
  it("produces the CreateTable input with PK/SK, three GSIs and a NEW_AND_OLD_IMAGES stream", () => {
    const input = createTableInput();

    expect(input.TableName).toBe("AgentForge-Marketplace");
    expect(input.KeySchema).toEqual([
      { AttributeName: "PK", KeyType: "HASH" },
      { AttributeName: "SK", KeyType: "RANGE" },
    ]);
    expect(
      input.GlobalSecondaryIndexes?.map((g) => [g.IndexName, g.KeySchema?.map((k) => k.AttributeName)]),
    ).toEqual([
      ["GSI1", ["GSI1PK", "GSI1SK"]],
      ["GSI2", ["GSI2PK", "GSI2SK"]],
      ["GSI3", ["GSI3PK", "GSI3SK"]],
    ]);
    expect(input.StreamSpecification?.StreamViewType).toBe("NEW_AND_OLD_IMAGES");
  });

  it("every entity index uses key fields and index names from the definition, with case preserved", () => {
    const indexes = Object.values(TABLE.globalIndexes);
    for (const entity of entities) {
      for (const index of Object.values(entity.indexes) as Array<{
        index?: string;
        pk: { field: string; casing?: string };
        sk: { field: string; casing?: string };
      }>) {
        const gsi = indexes.find((g) => g.indexName === index.index);
        const [pk, sk] = gsi ? [gsi.partitionKey, gsi.sortKey] : [TABLE.partitionKey, TABLE.sortKey];
        expect(
          [index.pk.field, index.sk.field],
          `${entity.model.entity} ${index.index ?? "primary"}`,
        ).toEqual([pk, sk]);
        expect([index.pk.casing, index.sk.casing]).toEqual(["none", "none"]);
      }
    }
  });

  it("the delivery entity carries the TTL attribute", () => {
    expect(Object.keys(webhookDeliverySchema.attributes)).toContain(TABLE.ttlAttribute);
  });
});
