import { type App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import type { IConstruct } from "constructs";

/**
 * cdk-nag on every synth, and the written reason for every finding acknowledged. Acknowledgements
 * are made on the narrowest construct (a function's role, one queue, one route), never stack-wide,
 * and IAM5 findings name the exact wildcard they accept.
 */

/** Runs the AWS Solutions checks when the app synthesises; any unacknowledged finding fails synth. */
export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
}

/** Acknowledges one finding (`RuleId` or `RuleId[finding]`) on one construct, with its reason. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

export const NAG_REASONS = {
  failureQueueIsDlq:
    "This queue is itself a dead-letter destination (stream on-failure records or failed schedule invocations); " +
    "a DLQ of a DLQ would only move the same messages again. Its depth has an alarm.",
  secretRotation:
    "Rotating this value needs a coordinated change outside AWS (the GitHub webhook settings, API clients, or " +
    "re-signing the audit chain's new entries), so it is rotated by hand as described in docs/deploy.md.",
  xrayWildcard:
    "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions (Resource '*' is the " +
    "only valid value); added by Lambda active tracing.",
  tableIndexes:
    "Access to the table's global secondary indexes: DynamoDB index ARNs are '<table ARN>/index/<name>', and " +
    "the functions query all three indexes of the one table; the wildcard cannot reach any other table.",
  agentQueues:
    "Agents register their own SQS queues, in their own accounts, at run time; sqs:SendMessage / " +
    "sqs:GetQueueAttributes on agents' queues cannot be enumerated at deploy time. The account part is limited " +
    "to the configured agent accounts when `agentAccounts` is set, and a condition refuses this account's own " +
    "queues; each agent's queue policy decides whether the message is accepted.",
  vpcAccess:
    "AWSLambdaVPCAccessExecutionRole is the managed policy Lambda documents for creating and deleting the " +
    "function's network interfaces in the configured VPC (ec2:*NetworkInterface* have no resource scoping).",
  schedulerInvoke:
    "EventBridge Scheduler's role may invoke this one function, including its versions and aliases " +
    "('<function ARN>:*').",
  asymmetricKeyRotation:
    "KMS does not rotate asymmetric keys automatically (rotation is for symmetric encryption keys only). The audit " +
    "anchor key is rotated by hand: a new key, a new key id in every new anchor (see docs/deploy.md).",
  anchorBucketAccessLogs:
    "The audit anchor bucket holds only small signed anchors under Object Lock (compliance mode): no request can " +
    "change or delete one, and the only writers and readers are the projector, the REST API and the audit-verify " +
    "function, whose calls CloudTrail records. A log bucket would add a second store to protect for no finding.",
  anchorObjects:
    "Audit anchors are written at run time under keys derived from the chain's seq and time " +
    "('anchors/<20 digits>-<13 digits>.json'), so the grant covers the anchors/ prefix of the one anchor bucket; " +
    "Object Lock (compliance mode) keeps every object from being overwritten or deleted.",
  webhookRoute:
    "POST /webhooks/github is called by GitHub, which cannot present an AWS signature or our bearer token; the " +
    "function verifies the X-Hub-Signature-256 HMAC over the raw body before anything else.",
} as const;
