import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import type { ISecurityGroup, IVpc, SubnetSelection } from "aws-cdk-lib/aws-ec2";
import { ManagedPolicy, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, Runtime, Tracing } from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../../src/observability.js";
import type { FunctionSpec } from "../../src/topology.js";
import { LAMBDA_BUNDLING } from "../bundling/options.js";
import { acknowledge, NAG_REASONS } from "../nag.js";

/** The repository root: entries in the topology are relative to it. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The Lambda runtime of every function; the bundles target the same Node.js version. */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

export interface MarketplaceFunctionProps {
  spec: FunctionSpec;
  /** Values of the variables the spec lists, plus any extra ones; never a secret value. */
  environment: Record<string, string>;
  logRetention: RetentionDays;
  logLevel: string;
  /** Network placement for functions that talk to Postgres. */
  network?: { vpc: IVpc; subnets: SubnetSelection; securityGroups?: ISecurityGroup[] };
  /**
   * IAM path of the role. Roles that touch agents' queues share one path, so an agent's queue policy
   * can name them all with one `aws:PrincipalArn` pattern that survives redeploys.
   */
  rolePath?: string;
}

/**
 * One function of the topology with the project's defaults: Node.js 24 on arm64, bundled by the
 * local esbuild (no Docker) as ESM, X-Ray active tracing, its own log group with a retention period,
 * Powertools settings, and a role of its own that can only write its own logs until grants are added.
 */
export class MarketplaceFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  readonly spec: FunctionSpec;

  constructor(scope: Construct, id: string, props: MarketplaceFunctionProps) {
    super(scope, id);
    const { spec } = props;
    this.spec = spec;

    // Kept when the stack is deleted: logs are the record of what happened, and they expire anyway.
    this.logGroup = new LogGroup(this, "Logs", {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `AgentForge ${spec.id}`,
      ...(props.rolePath ? { path: props.rolePath } : {}),
    });
    this.logGroup.grantWrite(this.role);
    if (props.network) {
      this.role.addManagedPolicy(
        ManagedPolicy.fromAwsManagedPolicyName("service-role/AWSLambdaVPCAccessExecutionRole"),
      );
      acknowledge(
        this.role,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
        NAG_REASONS.vpcAccess,
      );
    }

    this.fn = new NodejsFunction(this, "Function", {
      entry: join(PROJECT_ROOT, spec.entry),
      handler: "handler",
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, "package-lock.json"),
      description: `AgentForge ${spec.id}: ${spec.description}`.slice(0, 256),
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      ...(spec.reservedConcurrency !== undefined
        ? { reservedConcurrentExecutions: spec.reservedConcurrency }
        : {}),
      tracing: Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      environment: {
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_LOG_LEVEL: props.logLevel,
        ...props.environment,
      },
      ...(props.network
        ? {
            vpc: props.network.vpc,
            vpcSubnets: props.network.subnets,
            ...(props.network.securityGroups ? { securityGroups: props.network.securityGroups } : {}),
          }
        : {}),
      bundling: {
        format: OutputFormat.ESM,
        target: LAMBDA_BUNDLING.target,
        mainFields: [...LAMBDA_BUNDLING.mainFields],
        minify: LAMBDA_BUNDLING.minify,
        keepNames: LAMBDA_BUNDLING.keepNames,
        sourceMap: LAMBDA_BUNDLING.sourcemap,
        banner: LAMBDA_BUNDLING.banner,
        externalModules: [...LAMBDA_BUNDLING.external],
        esbuildArgs: Object.fromEntries(
          Object.entries(LAMBDA_BUNDLING.alias).map(([from, to]) => [`--alias:${from}`, to]),
        ),
      },
    });
  }
}
