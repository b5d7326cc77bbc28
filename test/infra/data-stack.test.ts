import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { DataStack } from "../../infra/data-stack.js";
import { createTableInput } from "../../src/adapters/dynamo/table-definition.js";

function synth() {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  return Template.fromStack(new DataStack(app, "Data"));
}

describe("DataStack", () => {
  it("creates exactly the table the single definition describes", () => {
    const template = synth();
    const expected = createTableInput();
    const tables = template.findResources("AWS::DynamoDB::GlobalTable");
    const [resource] = Object.values(tables) as Array<{ Properties: Record<string, unknown> }>;
    const table = resource ?? { Properties: {} };

    expect(Object.keys(tables)).toHaveLength(1);
    expect(table.Properties.TableName).toBe(expected.TableName);
    expect(table.Properties.KeySchema).toEqual(expected.KeySchema);
    expect(
      (table.Properties.GlobalSecondaryIndexes as Array<{ IndexName: string; KeySchema: unknown }>).map(
        (g) => ({
          IndexName: g.IndexName,
          KeySchema: g.KeySchema,
        }),
      ),
    ).toEqual(
      expected.GlobalSecondaryIndexes?.map((g) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema })),
    );
    expect(
      (table.Properties.AttributeDefinitions as Array<{ AttributeName: string }>)
        .map((a) => a.AttributeName)
        .sort(),
    ).toEqual(expected.AttributeDefinitions?.map((a) => a.AttributeName).sort());
  });

  it("protects the table: retained, deletion protection, PITR, stream, TTL, on-demand", () => {
    const template = synth();

    template.hasResource("AWS::DynamoDB::GlobalTable", {
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
      Properties: Match.objectLike({
        BillingMode: "PAY_PER_REQUEST",
        StreamSpecification: { StreamViewType: "NEW_AND_OLD_IMAGES" },
        TimeToLiveSpecification: { AttributeName: "expires_at", Enabled: true },
        Replicas: [
          Match.objectLike({
            DeletionProtectionEnabled: true,
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          }),
        ],
      }),
    });
  });
});
