import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { DataStack } from "../../infra/data-stack.js";
import { createTableInput } from "../../src/adapters/dynamo/table-definition.js";
import { type QueueName, queueConsumer, visibilityTimeoutSeconds } from "../../src/topology.js";

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

describe("DataStack: queues", () => {
  const QUEUE_IDS = { intake: "IntakeQueue", bids: "BidsQueue", dispatch: "DispatchQueue" } as const;

  it("gives each work queue a DLQ after 5 receives and a visibility timeout of at least 6 × its consumer's timeout", () => {
    const template = synth();
    const queues = template.findResources("AWS::SQS::Queue") as Record<
      string,
      { Properties: Record<string, unknown> }
    >;

    for (const [name, prefix] of Object.entries(QUEUE_IDS) as Array<[QueueName, string]>) {
      const [id, queue] = Object.entries(queues).find(([logicalId]) => logicalId.startsWith(prefix)) ?? [];
      const redrive = queue?.Properties.RedrivePolicy as {
        deadLetterTargetArn: { "Fn::GetAtt": [string] };
        maxReceiveCount: number;
      };
      expect(redrive.maxReceiveCount, name).toBe(5);
      expect(queues[redrive.deadLetterTargetArn["Fn::GetAtt"][0]], `${name} DLQ`).toBeDefined();
      expect(queue?.Properties.VisibilityTimeout, String(id)).toBe(visibilityTimeoutSeconds(name));
      expect(queue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(
        6 * queueConsumer(name).fn.timeoutSeconds,
      );
    }
  });

  it("encrypts every queue and refuses requests without TLS", () => {
    const template = synth();
    const resources = template.findResources("AWS::SQS::Queue") as Record<
      string,
      { Properties: Record<string, unknown> }
    >;
    const queues = Object.keys(resources);
    const policies = Object.values(template.findResources("AWS::SQS::QueuePolicy")) as Array<{
      Properties: {
        Queues: Array<{ Ref: string }>;
        PolicyDocument: { Statement: Array<Record<string, unknown>> };
      };
    }>;

    // Work queues and DLQs (12), the stream consumers' failure queues (2), the scheduler DLQ (1).
    expect(queues).toHaveLength(15);
    for (const id of queues) {
      expect(resources[id]?.Properties.SqsManagedSseEnabled, id).toBe(true);
      const policy = policies.find((p) => p.Properties.Queues.some((q) => q.Ref === id));
      expect(policy?.Properties.PolicyDocument.Statement, id).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: "Deny",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      );
    }
  });

  it("encrypts the table", () => {
    synth().hasResourceProperties("AWS::DynamoDB::GlobalTable", { SSESpecification: { SSEEnabled: true } });
  });
});
