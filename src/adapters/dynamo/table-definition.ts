import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";

/**
 * The single definition of the marketplace table. The CDK data stack, the local stack and the
 * test harness all derive their table from this object, so key names, GSIs and the TTL attribute
 * cannot drift between AWS and local runs.
 */
export const TABLE = {
  defaultName: "AgentForge-Marketplace",
  partitionKey: "PK",
  sortKey: "SK",
  /** Epoch seconds; only webhook delivery items carry it. */
  ttlAttribute: "expires_at",
  globalIndexes: {
    /**
     * Agents by capability. Only capability edges of agents that may bid carry these keys
     * (sparse): `CAP#<capability>` / `AGENT#<agent_id>`.
     */
    byCapability: { indexName: "GSI1", partitionKey: "GSI1PK", sortKey: "GSI1SK" },
    /** An agent's ledger, newest first: `AGENT#<agent_id>` / `LEDGER#<ISO timestamp>`. */
    agentLedger: { indexName: "GSI2", partitionKey: "GSI2PK", sortKey: "GSI2SK" },
    /**
     * Open bid windows by deadline: `OPEN_TASK#<shard>` / `<deadline ISO>#<task url>`, in
     * `BID_WINDOW_SHARDS` partitions. Only `BID_WINDOW` items carry these keys, and one exists only
     * while its task is OPEN or CLOSING.
     */
    openTasksByDeadline: { indexName: "GSI3", partitionKey: "GSI3PK", sortKey: "GSI3SK" },
  },
} as const;

export type GlobalIndexName = (typeof TABLE.globalIndexes)[keyof typeof TABLE.globalIndexes]["indexName"];

/** Every key attribute the table or one of its indexes uses; all are strings. */
export function keyAttributeNames(): string[] {
  const names = new Set<string>([TABLE.partitionKey, TABLE.sortKey]);
  for (const index of Object.values(TABLE.globalIndexes)) {
    names.add(index.partitionKey);
    names.add(index.sortKey);
  }
  return [...names];
}

/**
 * The `CreateTable` request for DynamoDB Local and tests. On-demand billing and a
 * NEW_AND_OLD_IMAGES stream mirror the CDK table.
 */
export function createTableInput(tableName: string = TABLE.defaultName): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: keyAttributeNames().map((name) => ({ AttributeName: name, AttributeType: "S" })),
    KeySchema: [
      { AttributeName: TABLE.partitionKey, KeyType: "HASH" },
      { AttributeName: TABLE.sortKey, KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: Object.values(TABLE.globalIndexes).map((index) => ({
      IndexName: index.indexName,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: "HASH" },
        { AttributeName: index.sortKey, KeyType: "RANGE" },
      ],
      Projection: { ProjectionType: "ALL" },
    })),
    StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" },
  };
}
