import { Match, type Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { AGENT_ACCESS_ROLE_PATH, TABLE_ACTIONS } from "../../infra/service-stack.js";
import { FUNCTION_ENV_CONTEXT_KEYS } from "../../infra/settings.js";
import {
  FUNCTIONS,
  type FunctionSpec,
  functionById,
  httpRoutes,
  QUEUES,
  SECRETS,
  type SecretName,
  schedules,
  secretsOf,
} from "../../src/topology.js";
import { resourcesOf, synthApp } from "./synth.js";

type Statement = {
  Effect: string;
  Action?: string | string[];
  NotAction?: unknown;
  Resource?: unknown;
  Principal?: unknown;
  Sid?: string;
  Condition?: unknown;
};

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];
const json = (value: unknown) => JSON.stringify(value);
/** The work queues of the topology (each with a DLQ and an oldest-message alarm). */
const QUEUE_COUNT = Object.keys(QUEUES).length;

/** Every policy statement of a template: identity policies, inline role policies, resource policies. */
function statementsOf(template: Template): Array<{ where: string; statement: Statement }> {
  const found: Array<{ where: string; statement: Statement }> = [];
  const add = (where: string, doc: unknown) => {
    for (const statement of asArray(
      (doc as { Statement?: Statement | Statement[] } | undefined)?.Statement,
    )) {
      found.push({ where, statement });
    }
  };
  const types: Array<[string, (p: Record<string, unknown>) => unknown[]]> = [
    ["AWS::IAM::Policy", (p) => [p.PolicyDocument]],
    ["AWS::IAM::ManagedPolicy", (p) => [p.PolicyDocument]],
    [
      "AWS::IAM::Role",
      (p) => [
        p.AssumeRolePolicyDocument,
        ...asArray(p.Policies as Array<{ PolicyDocument: unknown }>).map((x) => x.PolicyDocument),
      ],
    ],
    ["AWS::SQS::QueuePolicy", (p) => [p.PolicyDocument]],
    ["AWS::SNS::TopicPolicy", (p) => [p.PolicyDocument]],
    ["AWS::KMS::Key", (p) => [p.KeyPolicy]],
  ];
  for (const [type, docs] of types) {
    for (const [id, resource] of Object.entries(resourcesOf(template, type))) {
      for (const doc of docs(resource.Properties)) add(`${type} ${id}`, doc);
    }
  }
  return found;
}

/** The function of each topology entry, found by the description the construct gives it. */
function functionsBySpec(
  template: Template,
): Record<string, { logicalId: string; props: Record<string, unknown> }> {
  const fns = resourcesOf(template, "AWS::Lambda::Function");
  return Object.fromEntries(
    FUNCTIONS.map((spec) => {
      const match = Object.entries(fns).find(([, r]) =>
        String(r.Properties.Description).startsWith(`AgentForge ${spec.id}:`),
      );
      if (!match) throw new Error(`No function for ${spec.id}`);
      return [spec.id, { logicalId: match[0], props: match[1].Properties }];
    }),
  );
}

/** The logical id of a function's role. */
function roleIdOf(fn: { props: Record<string, unknown> } | undefined): string {
  return (fn?.props.Role as { "Fn::GetAtt": [string, string] } | undefined)?.["Fn::GetAtt"][0] ?? "";
}

/** The variables of a function. */
function variablesOf(fn: { props: Record<string, unknown> } | undefined): Record<string, unknown> {
  return (fn?.props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
}

/** Statements of the role of each function (its default policy). */
function roleStatements(template: Template, spec: FunctionSpec): Statement[] {
  const roleId = roleIdOf(functionsBySpec(template)[spec.id]);
  return Object.values(resourcesOf(template, "AWS::IAM::Policy"))
    .filter((p) => json(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => asArray((p.Properties.PolicyDocument as { Statement: Statement[] }).Statement));
}

const actionsOf = (statements: Statement[]) => statements.flatMap((s) => asArray(s.Action));

describe("ServiceStack: functions from the topology", () => {
  it("has one function per topology entry: supported runtime on arm64, traced, sized as declared", () => {
    const { service } = synthApp();
    const fns = functionsBySpec(service);

    expect(Object.keys(resourcesOf(service, "AWS::Lambda::Function"))).toHaveLength(FUNCTIONS.length);
    for (const spec of FUNCTIONS) {
      const fn = fns[spec.id];
      expect(fn, spec.id).toBeDefined();
      const props = fn?.props ?? {};
      expect(Number(/^nodejs(\d+)\.x$/.exec(String(props.Runtime))?.[1])).toBeGreaterThanOrEqual(22);
      expect(props.Architectures).toEqual(["arm64"]);
      expect(props.TracingConfig).toEqual({ Mode: "Active" });
      expect(props.Timeout).toBe(spec.timeoutSeconds);
      expect(props.MemorySize).toBe(spec.memoryMb);
      expect(props.Environment).toMatchObject({
        Variables: { POWERTOOLS_SERVICE_NAME: "agentforge", POWERTOOLS_METRICS_NAMESPACE: "AgentForge" },
      });
    }
  });

  it("gives every function its own log group with a retention period", () => {
    const { service } = synthApp();
    const groups = resourcesOf(service, "AWS::Logs::LogGroup");

    for (const { props } of Object.values(functionsBySpec(service))) {
      const groupId =
        (props.LoggingConfig as { LogGroup?: { Ref?: string } } | undefined)?.LogGroup?.Ref ?? "";
      expect(groups[groupId]?.Properties.RetentionInDays).toBe(30);
    }
  });

  it("sets exactly the environment each function declares (plus Powertools settings)", () => {
    const { service } = synthApp();
    const fns = functionsBySpec(service);

    for (const spec of FUNCTIONS) {
      const variables = variablesOf(fns[spec.id]);
      const own = Object.keys(variables).filter(
        (k) => !k.startsWith("POWERTOOLS_") && k !== "NODE_EXTRA_CA_CERTS",
      );
      // Postgres clients verify the server certificate against the runtime's RDS CA bundle.
      expect(variables.NODE_EXTRA_CA_CERTS, spec.id).toBe(
        spec.postgres ? "/var/runtime/ca-cert.pem" : undefined,
      );
      // Optional settings without a context value are left to the defaults of src/config.ts.
      expect(own.sort(), spec.id).toEqual(
        spec.environment.filter((k) => !(k in FUNCTION_ENV_CONTEXT_KEYS)).sort(),
      );
    }
  });

  it("passes context settings through to the functions that declare them", () => {
    const { service } = synthApp({ approvalThreshold: "250", bidWindowSeconds: "600" });
    const fns = functionsBySpec(service);

    expect(fns["award-worker"]?.props.Environment).toMatchObject({
      Variables: { APPROVAL_THRESHOLD: "250" },
    });
    expect(fns["intake-worker"]?.props.Environment).toMatchObject({
      Variables: { BID_WINDOW_SECONDS: "600" },
    });
    expect(json(fns["github-receiver"]?.props.Environment)).not.toContain("APPROVAL_THRESHOLD");
  });

  it("recycles exactly the functions that cache secrets when secretsEpoch changes", () => {
    const fns = functionsBySpec(synthApp({ secretsEpoch: "2026-05-01" }).service);

    for (const spec of FUNCTIONS) {
      expect(variablesOf(fns[spec.id]).AGENTFORGE_SECRETS_EPOCH, spec.id).toBe(
        secretsOf(spec).length > 0 ? "2026-05-01" : undefined,
      );
    }
  });
});

describe("ServiceStack: triggers", () => {
  it("every SQS event source reports batch item failures and caps its concurrency", () => {
    const { service } = synthApp();
    const mappings = Object.values(resourcesOf(service, "AWS::Lambda::EventSourceMapping")).filter(
      (m) => !m.Properties.StartingPosition,
    );
    const queueTriggers = FUNCTIONS.filter((f) => f.trigger.kind === "queue");

    expect(mappings).toHaveLength(queueTriggers.length);
    for (const mapping of mappings) {
      expect(mapping.Properties.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
      expect(mapping.Properties.ScalingConfig).toMatchObject({ MaximumConcurrency: expect.any(Number) });
    }
  });

  it("stream consumers bisect on error, retry, send what they give up on to a queue, and filter as declared", () => {
    const { service } = synthApp();
    const fns = functionsBySpec(service);
    const mappings = Object.values(resourcesOf(service, "AWS::Lambda::EventSourceMapping")).filter(
      (m) => m.Properties.StartingPosition,
    );

    expect(mappings).toHaveLength(2);
    for (const spec of FUNCTIONS) {
      const { trigger } = spec;
      if (trigger.kind !== "stream") continue;
      const mapping = mappings.find((m) =>
        json(m.Properties.FunctionName).includes(fns[spec.id]?.logicalId ?? "?"),
      );
      expect(mapping?.Properties, spec.id).toMatchObject({
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: trigger.retryAttempts,
        MaximumRecordAgeInSeconds: trigger.maxRecordAgeSeconds,
        BatchSize: trigger.batchSize,
        StartingPosition: trigger.startingPosition,
        DestinationConfig: { OnFailure: { Destination: expect.anything() } },
        FilterCriteria: { Filters: trigger.filters.map((f) => ({ Pattern: JSON.stringify(f) })) },
      });
      if (trigger.reportBatchItemFailures) {
        expect(mapping?.Properties.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
      }
    }
  });

  it("routes the webhook without the token authorizer and every REST route through it", () => {
    const { service } = synthApp();
    const routes = Object.values(resourcesOf(service, "AWS::ApiGatewayV2::Route")).map((r) => r.Properties);
    const [authorizer] = Object.values(resourcesOf(service, "AWS::ApiGatewayV2::Authorizer"));

    expect(routes.map((r) => r.RouteKey).sort()).toEqual(
      httpRoutes()
        .map(({ route }) => `${route.method} ${route.path}`)
        .sort(),
    );
    expect(routes.find((r) => r.RouteKey === "POST /webhooks/github")).toMatchObject({
      AuthorizationType: "NONE",
    });
    for (const route of routes.filter((r) => r.RouteKey !== "POST /webhooks/github")) {
      expect(route, String(route.RouteKey)).toMatchObject({ AuthorizationType: "CUSTOM" });
    }
    expect(authorizer?.Properties).toMatchObject({
      AuthorizerType: "REQUEST",
      EnableSimpleResponses: true,
      IdentitySource: ["$request.header.Authorization"],
    });
  });

  it("throttles and access-logs the API stage", () => {
    const { service } = synthApp();

    service.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp("requestId") },
    });
  });

  it("schedules each scheduled function with EventBridge Scheduler, retries and a DLQ", () => {
    const { service } = synthApp();
    const fns = functionsBySpec(service);
    const found = Object.values(resourcesOf(service, "AWS::Scheduler::Schedule")).map((s) => s.Properties);

    expect(found).toHaveLength(schedules().length);
    for (const { fn, trigger } of schedules()) {
      const schedule = found.find((s) => json(s.Target).includes(`"${fns[fn.id]?.logicalId}"`));
      expect(schedule, fn.id).toMatchObject({
        ScheduleExpression: trigger.expression,
        Target: { DeadLetterConfig: { Arn: expect.anything() }, RetryPolicy: { MaximumRetryAttempts: 2 } },
      });
    }
  });
});

describe("ServiceStack: least privilege", () => {
  it("no statement anywhere allows every action, or every action on every resource", () => {
    const { data, service } = synthApp({ createSecrets: "true", agentAccounts: "111122223333" });
    const statements = [...statementsOf(data), ...statementsOf(service)];

    const wide = statements.filter(
      ({ statement }) => statement.Effect === "Allow" && asArray(statement.Action).includes("*"),
    );

    expect(statements.length).toBeGreaterThan(20);
    expect(wide.map((w) => w.where)).toEqual([]);
  });

  it("allows Resource '*' only for the X-Ray actions that have no resource scoping", () => {
    const { service } = synthApp();

    const starred = statementsOf(service).filter(
      ({ where, statement }) =>
        !where.startsWith("AWS::KMS::Key") && asArray(statement.Resource).includes("*"),
    );

    expect(new Set(starred.flatMap(({ statement }) => asArray(statement.Action)))).toEqual(
      new Set(["xray:PutTelemetryRecords", "xray:PutTraceSegments"]),
    );
  });

  it("grants table access only to functions that declare it, with the declared actions and never Scan", () => {
    const { service } = synthApp();

    for (const spec of FUNCTIONS) {
      const actions = actionsOf(roleStatements(service, spec));
      const tableActions = actions.filter(
        (a) => a.startsWith("dynamodb:") && !/Stream|GetRecords|GetShardIterator/.test(a),
      );
      const grant = spec.grants.find((g) => g.kind === "table");
      expect(tableActions.sort(), spec.id).toEqual(
        grant?.kind === "table" ? [...TABLE_ACTIONS[grant.access]].sort() : [],
      );
      expect(actions, spec.id).not.toContain("dynamodb:Scan");
    }
  });

  it("lets only the stream consumers and the replayer read the table stream", () => {
    const { service } = synthApp();

    for (const spec of FUNCTIONS) {
      const readsStream = actionsOf(roleStatements(service, spec)).includes("dynamodb:GetShardIterator");
      expect(readsStream, spec.id).toBe(spec.grants.some((g) => g.kind === "tableStream"));
    }
    expect(functionById("governance-replay").trigger.kind).toBe("invoke");
  });

  it("lets the projector only send to its failure queue and the replayer only receive, delete and release there", () => {
    const { service } = synthApp();
    const sqsActions = (id: string) =>
      roleStatements(service, functionById(id))
        .filter((s) => json(s.Resource).includes("ProjectorStreamFailures"))
        .flatMap((s) => asArray(s.Action))
        .sort();

    expect(sqsActions("projector")).toEqual(["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]);
    expect(sqsActions("governance-replay")).toEqual([
      "sqs:ChangeMessageVisibility",
      "sqs:DeleteMessage",
      "sqs:ReceiveMessage",
    ]);
    for (const spec of FUNCTIONS.filter((f) => !["projector", "governance-replay"].includes(f.id))) {
      expect(sqsActions(spec.id), spec.id).toEqual([]);
    }
  });

  it("lets each function read exactly the secrets it declares", () => {
    const { service } = synthApp();

    for (const spec of FUNCTIONS) {
      const resources = roleStatements(service, spec)
        .filter((s) => actionsOf([s]).includes("secretsmanager:GetSecretValue"))
        .flatMap((s) => asArray(s.Resource))
        .map(json);
      const names = (Object.keys(SECRETS) as SecretName[]).filter((name) =>
        resources.some((r) => r.includes(`:secret:${SECRETS[name].defaultName}-??????`)),
      );
      expect(names.sort(), spec.id).toEqual(secretsOf(spec).sort());
    }
  });

  it("gives the one cross-account permission (agents' queues) only to functions that declare it, never on this account", () => {
    const { service } = synthApp();

    for (const spec of FUNCTIONS) {
      const statement = roleStatements(service, spec).find((s) => s.Sid === "AgentQueues");
      const grant = spec.grants.find((g) => g.kind === "agentQueues");
      if (grant?.kind !== "agentQueues") {
        expect(statement, spec.id).toBeUndefined();
        continue;
      }
      expect(asArray(statement?.Action).sort(), spec.id).toEqual([...grant.actions].sort());
      expect(json(statement?.Resource)).toContain(":sqs:*:*:*");
      expect(statement?.Condition).toEqual({
        StringNotEquals: { "aws:ResourceAccount": { Ref: "AWS::AccountId" } },
      });
    }
  });

  it("puts every role that touches agents' queues on the path agents' queue policies name", () => {
    const { service } = synthApp();
    const fns = functionsBySpec(service);
    const roles = resourcesOf(service, "AWS::IAM::Role");

    for (const spec of FUNCTIONS) {
      const roleId = roleIdOf(fns[spec.id]);
      const agentAccess = spec.grants.some((g) => g.kind === "agentQueues");
      expect(roles[roleId]?.Properties.Path, spec.id).toBe(agentAccess ? AGENT_ACCESS_ROLE_PATH : undefined);
    }
  });

  it("scopes agents' queues to the configured accounts and regions", () => {
    const { service, data } = synthApp({
      agentAccounts: "111122223333,444455556666",
      agentQueueRegions: "eu-west-1",
    });
    const delivery = FUNCTIONS.find((f) => f.id === "delivery-worker") as FunctionSpec;

    const statement = roleStatements(service, delivery).find((s) => s.Sid === "AgentQueues");

    expect(json(statement?.Resource)).toContain(":sqs:eu-west-1:111122223333:*");
    expect(json(statement?.Resource)).toContain(":sqs:eu-west-1:444455556666:*");
    expect(json(statement?.Resource)).not.toContain(":sqs:*:*:*");
    const bidsPolicy = statementsOf(data).find(({ statement }) => statement.Sid === "AgentsSendBids");
    expect(bidsPolicy?.statement).toMatchObject({ Effect: "Allow", Action: "sqs:SendMessage" });
    expect(json(bidsPolicy?.statement.Principal)).toContain(":iam::111122223333:root");
    expect(json(bidsPolicy?.statement.Principal)).toContain(":iam::444455556666:root");
  });

  it("with agentPrincipals, the bids queue allows exactly those roles and denies every other sender", () => {
    const roles = ["arn:aws:iam::111122223333:role/agent-a", "arn:aws:iam::111122223333:role/agent-b"];
    const { data } = synthApp({ agentAccounts: "111122223333", agentPrincipals: roles.join(",") });
    const statements = statementsOf(data).map(({ statement }) => statement);

    const allow = statements.find((s) => s.Sid === "AgentsSendBids");
    const deny = statements.find((s) => s.Sid === "OnlyAgentsSendBids");
    expect(allow).toMatchObject({ Effect: "Allow", Action: "sqs:SendMessage", Principal: { AWS: roles } });
    expect(json(allow?.Principal)).not.toContain(":root");
    expect(deny).toMatchObject({
      Effect: "Deny",
      Action: "sqs:SendMessage",
      Principal: { AWS: "*" },
      Condition: { ArnNotEquals: { "aws:PrincipalArn": roles } },
    });
  });

  it.each([
    [{ agentPrincipals: "arn:aws:iam::111122223333:root" }, /is not an IAM role or user ARN/],
    [{ agentPrincipals: "agent-a" }, /is not an IAM role or user ARN/],
    [
      { agentAccounts: "444455556666", agentPrincipals: "arn:aws:iam::111122223333:role/agent-a" },
      /is not in one of agentAccounts/,
    ],
  ])("refuses agentPrincipals %j", (context, message) => {
    expect(() => synthApp(context)).toThrow(message);
  });
});

describe("ServiceStack: secrets", () => {
  const PLAINTEXT = ["GITHUB_WEBHOOK_SECRET", "AGENTFORGE_API_TOKEN", "DATABASE_URL", "AUDIT_HMAC_KEY"];

  for (const createSecrets of ["false", "true"]) {
    it(`no secret value appears in any function's environment (createSecrets=${createSecrets})`, () => {
      const { data, service } = synthApp({ createSecrets });
      const secretIds = Object.keys(resourcesOf(data, "AWS::SecretsManager::Secret"));

      for (const [id, fn] of Object.entries(functionsBySpec(service))) {
        const variables = variablesOf(fn);
        for (const name of PLAINTEXT) expect(variables, id).not.toHaveProperty(name);
        const text = json(variables);
        expect(text, id).not.toMatch(/resolve:secretsmanager|SecretString/);
        for (const secretId of secretIds) expect(text, id).not.toContain(secretId);
        for (const name of Object.keys(SECRETS) as SecretName[]) {
          const value = variables[SECRETS[name].envKey];
          if (value !== undefined) expect(value, id).toBe(SECRETS[name].defaultName);
        }
      }
      expect(secretIds).toHaveLength(
        createSecrets === "true" ? Object.values(SECRETS).filter((spec) => spec.generated).length : 0,
      );
      for (const secret of Object.values(resourcesOf(data, "AWS::SecretsManager::Secret"))) {
        expect(secret.Properties).toHaveProperty("GenerateSecretString");
        expect(secret.Properties).not.toHaveProperty("SecretString");
      }
    });
  }
});

describe("ServiceStack: observability", () => {
  /** Data stack logical id behind each `Fn::ImportValue` export name. */
  function exportedLogicalIds(data: Template): Map<string, string> {
    const outputs = (
      data.toJSON() as { Outputs: Record<string, { Export?: { Name: string }; Value: unknown }> }
    ).Outputs;
    const map = new Map<string, string>();
    for (const output of Object.values(outputs)) {
      const getAtt = (output.Value as { "Fn::GetAtt"?: [string, string] })["Fn::GetAtt"];
      if (output.Export && getAtt) map.set(output.Export.Name, getAtt[0]);
    }
    return map;
  }

  it("alarms on the depth of every DLQ and failure queue", () => {
    const { data, service } = synthApp();
    const queues = resourcesOf(data, "AWS::SQS::Queue");
    const dlqIds = Object.values(queues)
      .map(
        (q) =>
          (q.Properties.RedrivePolicy as { deadLetterTargetArn?: { "Fn::GetAtt": [string] } } | undefined)
            ?.deadLetterTargetArn?.["Fn::GetAtt"][0],
      )
      .filter((id): id is string => Boolean(id));
    const failureIds = Object.keys(queues).filter((id) => /StreamFailures|ScheduleDlq/.test(id));
    const exports = exportedLogicalIds(data);
    const watched = Object.values(resourcesOf(service, "AWS::CloudWatch::Alarm"))
      .filter(
        (a) =>
          a.Properties.MetricName === "ApproximateNumberOfMessagesVisible" && a.Properties.Threshold === 1,
      )
      .map((a) => {
        const dimension = (a.Properties.Dimensions as Array<{ Value: { "Fn::ImportValue": string } }>)[0];
        return exports.get(dimension?.Value["Fn::ImportValue"] ?? "");
      });

    expect(dlqIds).toHaveLength(QUEUE_COUNT);
    expect(failureIds).toHaveLength(3);
    expect(watched.sort()).toEqual([...dlqIds, ...failureIds].sort());
  });

  it("alarms on every function's errors and throttles, and on the age of each work queue's oldest message", () => {
    const { service } = synthApp();
    const alarms = Object.values(resourcesOf(service, "AWS::CloudWatch::Alarm")).map((a) => a.Properties);
    const count = (metric: string) => alarms.filter((a) => a.MetricName === metric).length;

    expect(count("Errors")).toBe(FUNCTIONS.length);
    expect(count("Throttles")).toBe(FUNCTIONS.length);
    expect(count("ApproximateAgeOfOldestMessage")).toBe(QUEUE_COUNT);
    expect(count("IteratorAge")).toBe(2);
    expect(count("AuditChainBroken")).toBe(1);
    expect(alarms.filter((a) => a.MetricName === "GovernanceRecordsSkipped")).toEqual([
      expect.objectContaining({ Threshold: 1, Period: 300, Statistic: "Sum", Namespace: "AgentForge" }),
    ]);
    expect(alarms.filter((a) => a.MetricName === "AgentMessagesUnauthenticated")).toEqual([
      expect.objectContaining({ Threshold: 100, Period: 300, Statistic: "Sum", Namespace: "AgentForge" }),
    ]);
    for (const alarm of alarms) expect(alarm.AlarmActions, String(alarm.AlarmDescription)).toHaveLength(1);
  });

  it("publishes a dashboard and the outputs ops need", () => {
    const { data, service } = synthApp();

    service.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
    expect(Object.keys(service.findOutputs("*"))).toEqual(
      expect.arrayContaining([
        "ApiUrl",
        "GitHubWebhookUrl",
        "BidsQueueUrl",
        "TableName",
        "AgentAccessRoleArnPattern",
      ]),
    );
    expect(Object.keys(data.findOutputs("*"))).toEqual(expect.arrayContaining(["TableName", "BidsQueueUrl"]));
  });
});

describe("ServiceStack: optional VPC", () => {
  it("places only the Postgres functions in the configured subnets, offline (no lookup)", () => {
    const { service } = synthApp({
      vpcId: "vpc-0123456789abcdef0",
      subnetIds: "subnet-0aaaaaaaaaaaaaaa1,subnet-0bbbbbbbbbbbbbbb2",
      securityGroupIds: "sg-0ccccccccccccccc3",
    });
    const fns = functionsBySpec(service);

    for (const spec of FUNCTIONS) {
      const config = fns[spec.id]?.props.VpcConfig;
      if (spec.postgres) {
        expect(config, spec.id).toEqual({
          SubnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
          SecurityGroupIds: ["sg-0ccccccccccccccc3"],
        });
      } else {
        expect(config, spec.id).toBeUndefined();
      }
    }
  });
});
