import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import { AttributeType, Billing, StreamViewType, TableEncryptionV2, TableV2 } from "aws-cdk-lib/aws-dynamodb";
import { AccountPrincipal, AnyPrincipal, ArnPrincipal, Effect, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { Key, KeySpec, KeyUsage } from "aws-cdk-lib/aws-kms";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectLockRetention,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import type { Construct } from "constructs";
import { TABLE } from "../src/adapters/dynamo/table-definition.js";
import {
  QUEUES,
  type QueueName,
  SECRETS,
  type SecretName,
  streamConsumers,
  visibilityTimeoutSeconds,
} from "../src/topology.js";
import { acknowledge, NAG_REASONS } from "./nag.js";
import { pascal } from "./names.js";
import { readSettings, type Settings } from "./settings.js";

export interface DataStackProps extends StackProps {
  /** Physical table name; defaults to context `tableName`, else the documented `AgentForge-Marketplace`. */
  tableName?: string;
  /** Deployment settings; read from CDK context when omitted. */
  settings?: Settings;
}

/** A work queue and its dead-letter queue. */
export interface WorkQueue {
  queue: Queue;
  dlq: Queue;
}

/**
 * Stateful resources, kept apart from functions so a stateless redeploy can never replace them: the
 * table (built from the single table definition shared with the local stack and tests), the work
 * queues with their DLQs, the queues that keep what event sources and schedules gave up on, and,
 * when asked to, the generated secrets.
 */
export class DataStack extends Stack {
  readonly table: TableV2;
  /** The table's physical name, as a plain string (not a token). */
  readonly tableName: string;
  readonly queues: Record<QueueName, WorkQueue>;
  /** On-failure destinations of the stream consumers, by function id. */
  readonly streamFailureQueues: Record<string, Queue>;
  /** Dead-letter queue of every EventBridge Scheduler target. */
  readonly scheduleDlq: Queue;
  /** The secrets this stack created (`createSecrets`); functions always read them by name. */
  readonly createdSecrets: Partial<Record<SecretName, Secret>> = {};
  /**
   * Encrypts agents' bid-signing secrets in the table (envelope encryption: the table holds only
   * data keys wrapped by it and ciphertext). Retained: deleting it would make every secret unreadable.
   */
  readonly bidSecretKey: Key;
  /**
   * Signs audit anchors (signed checkpoints of the audit chain head): an asymmetric ECC_NIST_P256
   * key, so writers may only sign and verifiers need only its public key. Retained.
   */
  readonly auditAnchorKey: Key;
  /**
   * Where audit anchors are kept: Object Lock in compliance mode with a default retention, so no one
   * (the account root included) can delete or overwrite an anchor, or shorten its retention. Retained.
   */
  readonly auditAnchorBucket: Bucket;
  /** The anchor bucket's physical name (a plain string over pseudo parameters, not a cross-stack import). */
  readonly auditAnchorBucketName: string;

  constructor(scope: Construct, id: string, props: DataStackProps = {}) {
    super(scope, id, props);
    const settings = props.settings ?? readSettings(this.node);
    const string = (name: string) => ({ name, type: AttributeType.STRING });
    this.tableName = props.tableName ?? settings.tableName;

    this.table = new TableV2(this, "MarketplaceTable", {
      tableName: this.tableName,
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

    this.bidSecretKey = new Key(this, "BidSecretKey", {
      alias: "alias/agentforge/bid-secrets",
      description: "AgentForge: wraps the data keys that encrypt agents' bid-signing secrets in the table",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.auditAnchorKey = new Key(this, "AuditAnchorKey", {
      alias: "alias/agentforge/audit-anchor",
      description: "AgentForge: signs audit anchors (signed checkpoints of the audit chain head)",
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.auditAnchorKey, "AwsSolutions-KMS5", NAG_REASONS.asymmetricKeyRotation);

    this.auditAnchorBucketName = auditAnchorBucketName();
    this.auditAnchorBucket = new Bucket(this, "AuditAnchorBucket", {
      bucketName: this.auditAnchorBucketName,
      objectLockEnabled: true,
      objectLockDefaultRetention: ObjectLockRetention.compliance(
        Duration.days(settings.auditAnchorRetentionDays),
      ),
      versioned: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.auditAnchorBucket, "AwsSolutions-S1", NAG_REASONS.anchorBucketAccessLogs);

    const secureQueue = (
      queueId: string,
      retentionDays: number,
      extra: Partial<ConstructorParameters<typeof Queue>[2]> = {},
    ) =>
      new Queue(this, queueId, {
        encryption: QueueEncryption.SQS_MANAGED,
        enforceSSL: true,
        retentionPeriod: Duration.days(retentionDays),
        ...extra,
      });

    const queues = {} as Record<QueueName, WorkQueue>;
    for (const [name, spec] of Object.entries(QUEUES) as Array<[QueueName, (typeof QUEUES)[QueueName]]>) {
      const base = pascal(name);
      // DLQs keep messages as long as SQS allows, so nothing expires before someone looks.
      // A FIFO queue (the award queue: deduplicated per task) needs a FIFO DLQ.
      const fifo = spec.fifo ? { fifo: true } : {};
      const dlq = secureQueue(`${base}Dlq`, 14, fifo);
      const queue = secureQueue(`${base}Queue`, spec.retentionDays, {
        visibilityTimeout: Duration.seconds(visibilityTimeoutSeconds(name)),
        deadLetterQueue: { queue: dlq, maxReceiveCount: spec.maxReceiveCount },
        ...fifo,
      });
      queues[name] = { queue, dlq };
    }
    this.queues = queues;

    // Agents reply to bid requests on the bids queue from their own accounts. Named principals
    // narrow that to exactly their roles: everyone else is denied, even in this account, so nobody
    // but an agent can put a message on the queue (and the bid worker still verifies each one).
    if (settings.agentPrincipals.length > 0) {
      this.queues.bids.queue.addToResourcePolicy(
        new PolicyStatement({
          sid: "AgentsSendBids",
          principals: settings.agentPrincipals.map((arn) => new ArnPrincipal(arn)),
          actions: ["sqs:SendMessage"],
          resources: [this.queues.bids.queue.queueArn],
        }),
      );
      this.queues.bids.queue.addToResourcePolicy(
        new PolicyStatement({
          sid: "OnlyAgentsSendBids",
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ["sqs:SendMessage"],
          resources: [this.queues.bids.queue.queueArn],
          conditions: { ArnNotEquals: { "aws:PrincipalArn": settings.agentPrincipals } },
        }),
      );
    } else if (settings.agentAccounts.length > 0) {
      this.queues.bids.queue.addToResourcePolicy(
        new PolicyStatement({
          sid: "AgentsSendBids",
          principals: settings.agentAccounts.map((account) => new AccountPrincipal(account)),
          actions: ["sqs:SendMessage"],
          resources: [this.queues.bids.queue.queueArn],
        }),
      );
    }

    this.streamFailureQueues = {};
    for (const { fn } of streamConsumers()) {
      const queue = secureQueue(`${pascal(fn.id)}StreamFailures`, 14);
      acknowledge(queue, "AwsSolutions-SQS3", NAG_REASONS.failureQueueIsDlq);
      this.streamFailureQueues[fn.id] = queue;
    }
    this.scheduleDlq = secureQueue("ScheduleDlq", 14);
    acknowledge(this.scheduleDlq, "AwsSolutions-SQS3", NAG_REASONS.failureQueueIsDlq);

    if (settings.createSecrets) {
      for (const [name, spec] of Object.entries(SECRETS) as Array<
        [SecretName, (typeof SECRETS)[SecretName]]
      >) {
        if (!spec.generated) continue;
        const secret = new Secret(this, `${pascal(name)}Secret`, {
          secretName: settings.secretNames[name],
          description: `AgentForge: ${spec.description}`,
          generateSecretString: {
            passwordLength: 64,
            excludePunctuation: true,
            ...(spec.generatedJsonKey
              ? { secretStringTemplate: "{}", generateStringKey: spec.generatedJsonKey }
              : {}),
          },
          removalPolicy: RemovalPolicy.RETAIN,
        });
        acknowledge(secret, "AwsSolutions-SMG4", NAG_REASONS.secretRotation);
        this.createdSecrets[name] = secret;
      }
    }

    new CfnOutput(this, "TableName", { value: this.table.tableName, description: "The marketplace table" });
    new CfnOutput(this, "BidsQueueUrl", {
      value: this.queues.bids.queue.queueUrl,
      description: "Where agents send BID / DECLINE / COST_REPORT (the reply_to of bid requests)",
    });
    new CfnOutput(this, "BidsQueueArn", { value: this.queues.bids.queue.queueArn });
    new CfnOutput(this, "AuditAnchorBucketName", {
      value: this.auditAnchorBucket.bucketName,
      description: "Audit anchors (Object Lock, compliance mode): s3://<this>/anchors/",
    });
    new CfnOutput(this, "AuditAnchorKeyArn", {
      value: this.auditAnchorKey.keyArn,
      description: "KMS key that signs audit anchors (aws kms get-public-key --key-id <this> verifies them)",
    });
    new CfnOutput(this, "BidSecretKeyArn", {
      value: this.bidSecretKey.keyArn,
      description: "KMS key of the bid secrets (npm run secrets:encrypt -- --kms-key-id <this>)",
    });
  }
}

/**
 * The anchor bucket's name: fixed per account and region, so the service stack's grants name it
 * without importing it from this stack (as they name the table).
 */
export function auditAnchorBucketName(): string {
  return `agentforge-audit-anchors-${Aws.ACCOUNT_ID}-${Aws.REGION}`;
}
