import { Annotations, Aws, CfnOutput, Duration, Fn, Stack, type StackProps, Token } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaAuthorizer, HttpLambdaResponseType } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { type ITableV2, TableV2 } from "aws-cdk-lib/aws-dynamodb";
import { SecurityGroup, Subnet, Vpc } from "aws-cdk-lib/aws-ec2";
import { Effect, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { type CfnFunction, FilterCriteria, StartingPosition } from "aws-cdk-lib/aws-lambda";
import { DynamoEventSource, SqsDlq, SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Schedule, ScheduleExpression } from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { Construct } from "constructs";
import { BID_SECRET_ENCRYPTION_CONTEXT } from "../src/adapters/crypto/encryption-context.js";
import {
  type EnvKey,
  FUNCTIONS,
  type FunctionSpec,
  type Grant,
  QUEUES,
  type QueueName,
  SECRETS,
  type SecretName,
  type StreamTrigger,
  secretsOf,
} from "../src/topology.js";
import { MarketplaceFunction, type MarketplaceFunctionProps } from "./constructs/marketplace-function.js";
import { Monitoring } from "./constructs/monitoring.js";
import type { DataStack } from "./data-stack.js";
import { acknowledge, NAG_REASONS } from "./nag.js";
import { pascal } from "./names.js";
import { readSettings, type Settings } from "./settings.js";

export interface ServiceStackProps extends StackProps {
  data: DataStack;
  /** Deployment settings; read from CDK context when omitted. */
  settings?: Settings;
}

/**
 * IAM path of every role that may touch agents' queues. An agent's queue policy allows
 * `arn:aws:iam::<marketplace account>:role/agentforge/agent-access/*` (see docs/deploy.md), which
 * keeps working when roles are replaced.
 */
export const AGENT_ACCESS_ROLE_PATH = "/agentforge/agent-access/";

/**
 * DynamoDB actions per symbolic access level. Narrower than `grantReadWriteData`: no Scan (every
 * access pattern is a key or index query, and IAM now enforces it), no DescribeTable, no stream
 * reads on the table ARN. Transactions are authorised per item by these same actions.
 */
export const TABLE_ACTIONS = {
  read: ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"],
  readWrite: [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:ConditionCheckItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
  ],
} as const;

/**
 * Everything stateless, built from the topology (`src/topology.ts`): one function per entry with
 * exactly the grants it declares, its trigger (HTTP route, queue, stream or schedule), the HTTP API
 * with its token authorizer, alarms and the dashboard.
 */
export class ServiceStack extends Stack {
  readonly functions: Record<string, MarketplaceFunction> = {};
  readonly api: HttpApi;
  readonly stage: HttpStage;
  private readonly data: DataStack;
  private readonly settings: Settings;
  /**
   * The table, by its name: IAM resources then read `arn:...:table/<name>` instead of a cross-stack
   * import, and only the stream ARN (which has a timestamp in it) is imported from the data stack.
   */
  private readonly table: ITableV2;
  private readonly secrets = new Map<SecretName, ISecret>();

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    this.data = props.data;
    this.settings = props.settings ?? readSettings(this.node);
    this.table = TableV2.fromTableAttributes(this, "MarketplaceTable", {
      tableName: props.data.tableName,
      ...(props.data.table.tableStreamArn ? { tableStreamArn: props.data.table.tableStreamArn } : {}),
      grantIndexPermissions: true,
    });
    const network = this.network();

    for (const spec of FUNCTIONS) {
      const agentAccess = spec.grants.some((g) => g.kind === "agentQueues");
      const fn = new MarketplaceFunction(this, pascal(spec.id), {
        spec,
        environment: this.environmentFor(spec),
        logRetention: this.settings.logRetentionDays as RetentionDays,
        logLevel: this.settings.logLevel,
        ...(agentAccess ? { rolePath: AGENT_ACCESS_ROLE_PATH } : {}),
        ...(spec.postgres && network ? { network } : {}),
      });
      this.functions[spec.id] = fn;
      for (const grant of spec.grants) this.grant(fn, grant);
      this.acknowledgeRoleWildcards(fn);
    }

    for (const fn of Object.values(this.functions)) {
      const { trigger } = fn.spec;
      if (trigger.kind === "queue") {
        fn.fn.addEventSource(
          new SqsEventSource(this.data.queues[trigger.queue].queue, {
            batchSize: trigger.batchSize,
            ...(trigger.maxBatchingWindowSeconds > 0
              ? { maxBatchingWindow: Duration.seconds(trigger.maxBatchingWindowSeconds) }
              : {}),
            maxConcurrency: trigger.maxConcurrency,
            reportBatchItemFailures: true,
          }),
        );
      } else if (trigger.kind === "stream") {
        fn.fn.addEventSource(this.streamSource(fn.spec, trigger));
      } else if (trigger.kind === "schedule") {
        const role = new Role(this, `${pascal(fn.spec.id)}ScheduleRole`, {
          assumedBy: new ServicePrincipal("scheduler.amazonaws.com", {
            conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
          }),
          description: `EventBridge Scheduler: invoke AgentForge ${fn.spec.id}`,
        });
        acknowledge(
          role,
          `AwsSolutions-IAM5[Resource::<${this.getLogicalId(fn.fn.node.defaultChild as CfnFunction)}.Arn>:*]`,
          NAG_REASONS.schedulerInvoke,
        );
        new Schedule(this, `${pascal(fn.spec.id)}Schedule`, {
          schedule: ScheduleExpression.expression(trigger.expression),
          description: `AgentForge ${fn.spec.id}: ${trigger.description}`,
          target: new LambdaInvoke(fn.fn, {
            role,
            deadLetterQueue: this.data.scheduleDlq,
            retryAttempts: 2,
            // A missed run is made up by the next one; old invocations are not worth replaying.
            maxEventAge: Duration.minutes(15),
          }),
        });
      }
    }

    ({ api: this.api, stage: this.stage } = this.httpApi());

    const monitoring = new Monitoring(this, "Monitoring", {
      functions: Object.values(this.functions),
      queues: this.data.queues,
      streamFailureQueues: this.data.streamFailureQueues,
      scheduleDlq: this.data.scheduleDlq,
      api: this.api,
      ...(this.settings.alarmEmail ? { alarmEmail: this.settings.alarmEmail } : {}),
    });

    const apiUrl = this.stage.url;
    new CfnOutput(this, "ApiUrl", { value: apiUrl, description: "Base URL of the HTTP API" });
    new CfnOutput(this, "GitHubWebhookUrl", {
      value: `${apiUrl}webhooks/github`,
      description: "Payload URL of the GitHub webhook",
    });
    new CfnOutput(this, "BidsQueueUrl", {
      value: this.data.queues.bids.queue.queueUrl,
      description: "Where agents send BID / DECLINE / COST_REPORT (the reply_to of bid requests)",
    });
    new CfnOutput(this, "TableName", { value: this.table.tableName });
    new CfnOutput(this, "AgentAccessRoleArnPattern", {
      value: `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:role${AGENT_ACCESS_ROLE_PATH}*`,
      description: "aws:PrincipalArn pattern agents allow in their queue policy",
    });
    new CfnOutput(this, "AlarmTopicArn", { value: monitoring.topic.topicArn });
    const auditVerify = this.functions["audit-verify"];
    if (auditVerify) {
      new CfnOutput(this, "AuditVerifyFunctionName", {
        value: auditVerify.fn.functionName,
        description: "aws lambda invoke --function-name <this> out.json: walks the audit chain on demand",
      });
    }
    const replay = this.functions["governance-replay"];
    if (replay) {
      new CfnOutput(this, "GovernanceReplayFunctionName", {
        value: replay.fn.functionName,
        description:
          'aws lambda invoke --function-name <this> --payload \'{"limit":10,"operator":"<you>"}\' out.json: re-applies failed governance records',
      });
    }
    new CfnOutput(this, "DashboardName", { value: monitoring.dashboard.dashboardName });
  }

  /** VPC placement of the Postgres functions, from context; none by default. */
  private network(): MarketplaceFunctionProps["network"] {
    const { vpc } = this.settings;
    if (!vpc) return undefined;
    // Imported from ids alone, without a lookup, so synth stays offline. The subnets are given
    // explicitly, so the AZ names are never rendered: one placeholder per subnet is enough.
    const imported = Vpc.fromVpcAttributes(this, "Vpc", {
      vpcId: vpc.vpcId,
      availabilityZones: vpc.subnetIds.map((_, i) => Fn.select(i, Fn.getAzs())),
    });
    const subnets = vpc.subnetIds.map((id, i) => {
      const subnet = Subnet.fromSubnetId(this, `Subnet${i}`, id);
      // Lambda's VpcConfig takes subnet ids only; nothing here reads the route table.
      Annotations.of(subnet).acknowledgeWarning(
        "@aws-cdk/aws-ec2:noSubnetRouteTableId",
        "Only the subnet id is used (Lambda VpcConfig); the route table is never read",
      );
      return subnet;
    });
    return {
      vpc: imported,
      subnets: { subnets },
      ...(vpc.securityGroupIds.length > 0
        ? {
            securityGroups: vpc.securityGroupIds.map((id, i) =>
              SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, id),
            ),
          }
        : {}),
    };
  }

  private secret(name: SecretName): ISecret {
    let secret = this.secrets.get(name);
    if (!secret) {
      // Imported by name whether or not the data stack created it: one grant shape for both.
      secret = Secret.fromSecretNameV2(this, `${pascal(name)}Secret`, this.settings.secretNames[name]);
      this.secrets.set(name, secret);
    }
    return secret;
  }

  /** The value of every variable the spec lists; optional settings left unset keep config defaults. */
  private environmentFor(spec: FunctionSpec): Record<string, string> {
    const env: Record<string, string> = {};
    const queueUrl = Object.fromEntries(
      (Object.keys(QUEUES) as QueueName[]).map((q) => [QUEUES[q].envKey, this.data.queues[q].queue.queueUrl]),
    ) as Partial<Record<EnvKey, string>>;
    const secretId = Object.fromEntries(
      (Object.keys(SECRETS) as SecretName[]).map((s) => [SECRETS[s].envKey, this.settings.secretNames[s]]),
    ) as Partial<Record<EnvKey, string>>;
    for (const key of spec.environment) {
      const value =
        key === "TABLE_NAME"
          ? this.table.tableName
          : key === "MARKETPLACE_ACCOUNT_ID"
            ? Aws.ACCOUNT_ID
            : key === "BID_SECRET_KMS_KEY_ID"
              ? this.data.bidSecretKey.keyArn
              : key === "AUDIT_ANCHOR_KMS_KEY_ID"
                ? this.data.auditAnchorKey.keyArn
                : key === "AUDIT_ANCHOR_BUCKET"
                  ? this.data.auditAnchorBucketName
                  : key === "PROJECTOR_FAILURES_QUEUE_URL"
                    ? this.data.streamFailureQueues.projector?.queueUrl
                    : (queueUrl[key] ??
                      secretId[key] ??
                      this.settings.functionEnv[key as keyof Settings["functionEnv"]]);
      if (value !== undefined) env[key] = value;
    }
    if (this.settings.secretsEpoch && secretsOf(spec).length > 0) {
      env.AGENTFORGE_SECRETS_EPOCH = this.settings.secretsEpoch;
    }
    // pg verifies the server certificate with sslmode=require; the Lambda runtime ships the RDS CA
    // bundle at this path but only loads it when told to.
    if (spec.postgres) env.NODE_EXTRA_CA_CERTS = "/var/runtime/ca-cert.pem";
    return env;
  }

  private grant(fn: MarketplaceFunction, grant: Grant): void {
    const { role } = fn;
    switch (grant.kind) {
      case "table":
        this.table.grant(role, ...TABLE_ACTIONS[grant.access]);
        return;
      case "tableStream":
        // The DynamoEventSource grants the stream reads when the trigger is bound; a function
        // without that trigger (the replayer reads records back) is granted them here.
        if (fn.spec.trigger.kind !== "stream") {
          // Only the stream itself: no ListStreams (which would need `*`).
          role.addToPrincipalPolicy(
            new PolicyStatement({
              sid: "ReadTableStream",
              effect: Effect.ALLOW,
              actions: ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
              resources: [this.data.table.tableStreamArn as string],
            }),
          );
        }
        return;
      case "streamFailures": {
        const queue = this.data.streamFailureQueues[grant.of];
        if (!queue) throw new Error(`No stream failure queue for ${grant.of}`);
        if (grant.access === "send") queue.grantSendMessages(role);
        else queue.grant(role, "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility");
        return;
      }
      case "queueSend":
        this.data.queues[grant.queue].queue.grantSendMessages(role);
        return;
      case "queueConsume":
        // The SqsEventSource grants receive / delete / change visibility on its queue.
        return;
      case "secretRead":
        this.secret(grant.secret).grantRead(role);
        if (grant.secret === "databaseUrl" && this.settings.databaseSecretKmsKeyArn) {
          Key.fromKeyArn(
            this,
            `${pascal(fn.spec.id)}DatabaseSecretKey`,
            this.settings.databaseSecretKmsKeyArn,
          ).grantDecrypt(role);
        }
        return;
      case "agentQueues":
        role.addToPrincipalPolicy(this.agentQueueStatement(grant.actions));
        return;
      case "auditAnchorKey":
        // Sign for writers, GetPublicKey for verifiers; on the role, like the bid-secret key.
        role.addToPrincipalPolicy(
          new PolicyStatement({
            sid: "AuditAnchorKey",
            effect: Effect.ALLOW,
            actions: [...grant.actions],
            resources: [this.data.auditAnchorKey.keyArn],
          }),
        );
        return;
      case "auditAnchorBucket": {
        const bucketArn = `arn:${Aws.PARTITION}:s3:::${this.data.auditAnchorBucketName}`;
        const objectActions = grant.actions.filter((a) => a !== "s3:ListBucket");
        if (objectActions.length > 0) {
          role.addToPrincipalPolicy(
            new PolicyStatement({
              sid: "AuditAnchorObjects",
              effect: Effect.ALLOW,
              actions: objectActions,
              resources: [`${bucketArn}/anchors/*`],
            }),
          );
          acknowledge(
            fn.role,
            `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::agentforge-audit-anchors-<AWS::AccountId>-<AWS::Region>/anchors/*]`,
            NAG_REASONS.anchorObjects,
          );
        }
        if (grant.actions.includes("s3:ListBucket")) {
          role.addToPrincipalPolicy(
            new PolicyStatement({
              sid: "AuditAnchorList",
              effect: Effect.ALLOW,
              actions: ["s3:ListBucket"],
              resources: [bucketArn],
              conditions: { StringLike: { "s3:prefix": ["anchors/*"] } },
            }),
          );
        }
        return;
      }
      case "bidSecretKey":
        // On the role, not the key policy (which trusts the account's IAM): no cycle with the data stack.
        role.addToPrincipalPolicy(
          new PolicyStatement({
            sid: "BidSecretKey",
            effect: Effect.ALLOW,
            actions: [...grant.actions],
            resources: [this.data.bidSecretKey.keyArn],
            conditions: {
              StringEquals: Object.fromEntries(
                Object.entries(BID_SECRET_ENCRYPTION_CONTEXT).map(([k, v]) => [
                  `kms:EncryptionContext:${k}`,
                  v,
                ]),
              ),
            },
          }),
        );
        return;
    }
  }

  /**
   * The one cross-account permission: the listed SQS actions on agents' queues. Queue ARNs are known
   * only at run time (agents register them), so the resource is `arn:aws:sqs:<region>:<account>:*`
   * over the configured agent accounts and regions, `*` where none are configured. The condition
   * refuses queues in this account, so a registered URL can never make the marketplace write to its
   * own queues (registration refuses them too).
   */
  private agentQueueStatement(actions: readonly string[]): PolicyStatement {
    return new PolicyStatement({
      sid: "AgentQueues",
      effect: Effect.ALLOW,
      actions: [...actions],
      resources: this.agentQueueScopes().map(
        ({ region, account }) => `arn:${Aws.PARTITION}:sqs:${region}:${account}:*`,
      ),
      conditions: { StringNotEquals: { "aws:ResourceAccount": Aws.ACCOUNT_ID } },
    });
  }

  private streamSource(spec: FunctionSpec, trigger: StreamTrigger): DynamoEventSource {
    const failures = this.data.streamFailureQueues[spec.id];
    if (!failures) throw new Error(`No stream failure queue for ${spec.id}`);
    return new DynamoEventSource(this.table, {
      startingPosition: StartingPosition[trigger.startingPosition],
      batchSize: trigger.batchSize,
      ...(trigger.maxBatchingWindowSeconds > 0
        ? { maxBatchingWindow: Duration.seconds(trigger.maxBatchingWindowSeconds) }
        : {}),
      retryAttempts: trigger.retryAttempts,
      maxRecordAge: Duration.seconds(trigger.maxRecordAgeSeconds),
      bisectBatchOnError: trigger.bisectBatchOnError,
      reportBatchItemFailures: trigger.reportBatchItemFailures,
      parallelizationFactor: 1,
      onFailure: new SqsDlq(failures),
      filters: trigger.filters.map((pattern) => FilterCriteria.filter({ ...pattern })),
    });
  }

  /** Acknowledges the wildcards this function's grants carry, each with its reason. */
  private acknowledgeRoleWildcards(fn: MarketplaceFunction): void {
    const { grants } = fn.spec;
    acknowledge(fn.role, "AwsSolutions-IAM5[Resource::*]", NAG_REASONS.xrayWildcard);
    if (grants.some((g) => g.kind === "table")) {
      acknowledge(
        fn.role,
        `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:dynamodb:${this.nagValue(this.region, "AWS::Region")}:${this.nagValue(this.account, "AWS::AccountId")}:table/${this.data.tableName}/index/*]`,
        NAG_REASONS.tableIndexes,
      );
    }
    if (grants.some((g) => g.kind === "agentQueues")) {
      for (const { region, account } of this.agentQueueScopes()) {
        acknowledge(
          fn.role,
          `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sqs:${region}:${account}:*]`,
          NAG_REASONS.agentQueues,
        );
      }
    }
  }

  /** How cdk-nag prints a value in a finding id: literal when resolved, `<AWS::Region>` when a pseudo parameter. */
  private nagValue(value: string, pseudo: string): string {
    return Token.isUnresolved(value) ? `<${pseudo}>` : value;
  }

  /** Where agents' queues may be: the configured regions and accounts, `*` where none are. */
  private agentQueueScopes(): Array<{ region: string; account: string }> {
    const regions = this.settings.agentQueueRegions.length > 0 ? this.settings.agentQueueRegions : ["*"];
    const accounts = this.settings.agentAccounts.length > 0 ? this.settings.agentAccounts : ["*"];
    return regions.flatMap((region) => accounts.map((account) => ({ region, account })));
  }

  private httpApi(): { api: HttpApi; stage: HttpStage } {
    const api = new HttpApi(this, "HttpApi", {
      description: "AgentForge: GitHub webhook and REST API",
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, "ApiAccessLogs", {
      retention: this.settings.logRetentionDays as RetentionDays,
    });
    const stage = new HttpStage(this, "DefaultStage", {
      httpApi: api,
      stageName: "$default",
      autoDeploy: true,
      throttle: this.settings.apiThrottle,
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        // HTTP API context variables; no header, body or token is ever logged.
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            ip: "$context.identity.sourceIp",
            requestTime: "$context.requestTime",
            routeKey: "$context.routeKey",
            path: "$context.path",
            status: "$context.status",
            protocol: "$context.protocol",
            responseLength: "$context.responseLength",
            latencyMs: "$context.responseLatency",
            integrationError: "$context.integrationErrorMessage",
            authorizerError: "$context.authorizer.error",
          }),
        ),
      },
    });

    const authorizerFn = Object.values(this.functions).find((f) => f.spec.trigger.kind === "authorizer");
    const authorizer = authorizerFn
      ? new HttpLambdaAuthorizer("TokenAuthorizer", authorizerFn.fn, {
          authorizerName: "agentforge-token",
          responseTypes: [HttpLambdaResponseType.SIMPLE],
          identitySource: ["$request.header.Authorization"],
          // Keyed by the Authorization header. A rotated-out agent key stops within its overlap plus
          // this TTL; a kill switch or suspension applies at once (the REST function reads the profile).
          resultsCacheTtl: Duration.seconds(30),
        })
      : undefined;

    for (const fn of Object.values(this.functions)) {
      const { trigger } = fn.spec;
      if (trigger.kind !== "http") continue;
      const integration = new HttpLambdaIntegration(`${pascal(fn.spec.id)}Integration`, fn.fn);
      for (const route of trigger.routes) {
        if (route.auth === "token" && !authorizer)
          throw new Error("token routes need the api-authorizer function");
        const routes = api.addRoutes({
          path: route.path,
          methods: [HttpMethod[route.method]],
          integration,
          ...(route.auth === "token" && authorizer ? { authorizer } : {}),
        });
        if (route.auth === "none") {
          for (const r of routes) acknowledge(r, "AwsSolutions-APIG4", NAG_REASONS.webhookRoute);
        }
      }
    }
    return { api, stage };
  }
}
