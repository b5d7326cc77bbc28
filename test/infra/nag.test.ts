import { App, Stack, Validations } from "aws-cdk-lib";
import { Queue } from "aws-cdk-lib/aws-sqs";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { createApp } from "../../infra/marketplace-app.js";
import { addNagChecks } from "../../infra/nag.js";
import { NO_BUNDLING } from "./synth.js";

/** Unacknowledged AWS Solutions findings (errors and warnings) of the app, as `RuleId at path` lines. */
function findings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} at ${r.constructPath}`),
  );
}

/** The acknowledgements recorded in the app: id → reason. */
function acknowledgements(app: App): Array<{ id: string; reason: string }> {
  return app.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) =>
          Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ id, reason })),
        ),
    );
}

describe("cdk-nag (AWS Solutions) on the app", () => {
  it("finds nothing unacknowledged with the default settings, and the CDK validation step passes", () => {
    const { app } = createApp(new App({ context: { ...NO_BUNDLING } }));

    expect(findings(app)).toEqual([]);
    expect(() => app.synth()).not.toThrow();
  });

  it.each([
    ["created secrets", { createSecrets: "true" }],
    [
      "agent accounts and regions",
      { agentAccounts: "111122223333", agentQueueRegions: "eu-west-1,us-east-1" },
    ],
    [
      "a VPC for the Postgres functions",
      { vpcId: "vpc-0123456789abcdef0", subnetIds: "subnet-0aaaaaaaaaaaaaaa1" },
    ],
    ["an alarm e-mail", { alarmEmail: "ops@example.com" }],
  ])("finds nothing unacknowledged with %s", (_name, context) => {
    const { app } = createApp(new App({ context: { ...NO_BUNDLING, ...context } }));

    expect(findings(app)).toEqual([]);
  });

  it("gives every acknowledgement a written reason", () => {
    const { app } = createApp(new App({ context: { ...NO_BUNDLING, createSecrets: "true" } }));

    const acks = acknowledgements(app);

    expect(acks.length).toBeGreaterThan(10);
    for (const { id, reason } of acks) expect(reason.length, id).toBeGreaterThan(40);
  });

  it("really runs: an unencrypted queue without a DLQ is reported, and fails synthesis", () => {
    const app = new App({ context: { ...NO_BUNDLING } });
    new Queue(new Stack(app, "Bad"), "Plain");
    addNagChecks(app);

    expect(findings(app)).toEqual(
      expect.arrayContaining([
        expect.stringContaining("AwsSolutions-SQS3"),
        expect.stringContaining("AwsSolutions-SQS4"),
      ]),
    );
    expect(() => app.synth()).toThrow();
  });
});
