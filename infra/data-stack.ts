import { RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import { AttributeType, Billing, StreamViewType, TableEncryptionV2, TableV2 } from "aws-cdk-lib/aws-dynamodb";
import type { Construct } from "constructs";
import { TABLE } from "../src/adapters/dynamo/table-definition.js";

export interface DataStackProps extends StackProps {
  /** Physical table name; defaults to the documented `AgentForge-Marketplace`. */
  tableName?: string;
}

/**
 * Stateful resources, kept apart from functions so a stateless redeploy can never replace them.
 * The table is built from the single table definition shared with the local stack and tests.
 */
export class DataStack extends Stack {
  readonly table: TableV2;

  constructor(scope: Construct, id: string, props: DataStackProps = {}) {
    super(scope, id, props);
    const string = (name: string) => ({ name, type: AttributeType.STRING });

    this.table = new TableV2(this, "MarketplaceTable", {
      tableName: props.tableName ?? TABLE.defaultName,
      partitionKey: string(TABLE.partitionKey),
      sortKey: string(TABLE.sortKey),
      billing: Billing.onDemand(),
      globalSecondaryIndexes: Object.values(TABLE.globalIndexes).map((index) => ({
        indexName: index.indexName,
        partitionKey: string(index.partitionKey),
        sortKey: string(index.sortKey),
      })),
      timeToLiveAttribute: TABLE.ttlAttribute,
      dynamoStream: StreamViewType.NEW_AND_OLD_IMAGES,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: TableEncryptionV2.awsManagedKey(),
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
