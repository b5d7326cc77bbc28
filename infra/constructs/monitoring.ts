import { Duration, RemovalPolicy } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import { SnsAction } from "aws-cdk-lib/aws-cloudwatch-actions";
import { ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Key } from "aws-cdk-lib/aws-kms";
import { FilterPattern, MetricFilter } from "aws-cdk-lib/aws-logs";
import { Topic } from "aws-cdk-lib/aws-sns";
import { EmailSubscription } from "aws-cdk-lib/aws-sns-subscriptions";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRICS_NAMESPACE, SERVICE_NAME } from "../../src/observability.js";
import { QUEUES, type QueueName } from "../../src/topology.js";
import type { WorkQueue } from "../data-stack.js";
import type { MarketplaceFunction } from "./marketplace-function.js";

export interface MonitoringProps {
  functions: MarketplaceFunction[];
  queues: Record<QueueName, WorkQueue>;
  streamFailureQueues: Record<string, IQueue>;
  scheduleDlq: IQueue;
  api: HttpApi;
  /** Subscribed to the alarm topic when given (the address must confirm the subscription). */
  alarmEmail?: string;
}

/** What an alarm watches, for tests and the docs. */
export type AlarmKind =
  | "dlq"
  | "oldest-message"
  | "errors"
  | "throttles"
  | "iterator-age"
  | "audit-chain"
  | "forged-messages"
  | "projection-skipped";

/**
 * Unauthenticated agent messages (unsigned, forged, unknown agent) in five minutes that raise the
 * alarm. A misconfigured agent sends a few; a flood is someone probing the bids queue.
 */
export const FORGED_MESSAGE_ALARM_THRESHOLD = 100;

const FIVE_MINUTES = Duration.minutes(5);

/**
 * Alarms and the dashboard. Every alarm notifies one SNS topic (encrypted with a key CloudWatch may
 * use): any message in a DLQ or failure queue, a work queue's oldest message past its limit, any
 * function error or throttle, a stream consumer falling behind, a broken audit chain, and a flood of
 * unauthenticated messages on the bids queue.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Array<{ kind: AlarmKind; subject: string; alarm: Alarm }> = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);

    // Only notifications pass through it, so it goes with the stack (after KMS's waiting period).
    const key = new Key(this, "AlarmTopicKey", {
      description: "AgentForge alarm topic",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch publishes alarm notifications to the encrypted topic.
    key.grant(new ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*");
    this.topic = new Topic(this, "AlarmTopic", {
      displayName: "AgentForge alarms",
      masterKey: key,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    const action = new SnsAction(this.topic);

    const alarm = (
      kind: AlarmKind,
      subject: string,
      metric: IMetric,
      threshold: number,
      description: string,
    ) => {
      const created = new Alarm(this, `${kind}-${subject}`, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: `AgentForge: ${description}`,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      this.alarms.push({ kind, subject, alarm: created });
    };

    const depth = (queue: IQueue) =>
      queue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum", period: Duration.minutes(1) });
    for (const [name, { queue, dlq }] of Object.entries(props.queues) as Array<[QueueName, WorkQueue]>) {
      alarm(
        "dlq",
        name,
        depth(dlq),
        1,
        `a message reached the ${name} DLQ (received ${QUEUES[name].maxReceiveCount} times without success)`,
      );
      alarm(
        "oldest-message",
        name,
        queue.metricApproximateAgeOfOldestMessage({ statistic: "Maximum", period: Duration.minutes(1) }),
        QUEUES[name].oldestMessageAlarmSeconds,
        `the ${name} queue's oldest message is older than ${QUEUES[name].oldestMessageAlarmSeconds} s`,
      );
    }
    for (const [fnId, queue] of Object.entries(props.streamFailureQueues)) {
      alarm("dlq", `${fnId}-stream`, depth(queue), 1, `${fnId} gave up on table stream records`);
    }
    alarm("dlq", "schedules", depth(props.scheduleDlq), 1, "a scheduled invocation failed after its retries");

    for (const { fn, spec, logGroup } of props.functions) {
      alarm(
        "errors",
        spec.id,
        fn.metricErrors({ statistic: "Sum", period: FIVE_MINUTES }),
        1,
        `${spec.id} failed`,
      );
      alarm(
        "throttles",
        spec.id,
        fn.metricThrottles({ statistic: "Sum", period: FIVE_MINUTES }),
        1,
        `${spec.id} was throttled`,
      );
      if (spec.trigger.kind === "stream") {
        alarm(
          "iterator-age",
          spec.id,
          fn.metric("IteratorAge", { statistic: "Maximum", period: Duration.minutes(1) }),
          spec.trigger.iteratorAgeAlarmSeconds * 1000,
          `${spec.id} is more than ${spec.trigger.iteratorAgeAlarmSeconds} s behind the table stream`,
        );
      }
      if (spec.id === "audit-verify") {
        // The function reports a broken chain as an error log line and returns normally.
        const broken = new MetricFilter(this, "AuditChainBrokenFilter", {
          logGroup,
          metricNamespace: METRICS_NAMESPACE,
          metricName: "AuditChainBroken",
          filterPattern: FilterPattern.stringValue("$.message", "=", "Audit chain broken"),
          metricValue: "1",
        });
        alarm(
          "audit-chain",
          spec.id,
          broken.metric({ statistic: "Sum", period: FIVE_MINUTES }),
          1,
          "the audit log's hash chain does not verify",
        );
      }
    }

    alarm(
      "forged-messages",
      "bids",
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: "AgentMessagesUnauthenticated",
        dimensionsMap: { service: SERVICE_NAME },
        statistic: "Sum",
        period: FIVE_MINUTES,
      }),
      FORGED_MESSAGE_ALARM_THRESHOLD,
      `at least ${FORGED_MESSAGE_ALARM_THRESHOLD} unsigned or forged messages reached the bids queue in 5 minutes`,
    );

    alarm(
      "projection-skipped",
      "projector",
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: "GovernanceRecordsSkipped",
        dimensionsMap: { service: SERVICE_NAME },
        statistic: "Sum",
        period: FIVE_MINUTES,
      }),
      1,
      "the governance projector set a stream record aside (permanent failure): fix its cause, then replay it (docs/deploy.md)",
    );

    this.dashboard = this.buildDashboard(props);
  }

  private buildDashboard(props: MonitoringProps): Dashboard {
    const app = (metricName: string, label = metricName) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME },
        statistic: "Sum",
        period: FIVE_MINUTES,
        label,
      });
    /** Metrics with a `reason` dimension: one line per reason. */
    const byReason = (metricName: string) =>
      new MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},reason,service} MetricName="${metricName}"', 'Sum', 300)`,
        label: "",
        period: FIVE_MINUTES,
      });
    const graph = (title: string, left: IMetric[], width = 8) =>
      new GraphWidget({ title, left, width, height: 6 });

    const dashboard = new Dashboard(this, "Dashboard", { defaultInterval: Duration.hours(6) });
    dashboard.addWidgets(
      new TextWidget({
        markdown:
          "# AgentForge marketplace\nTasks from GitHub issues → bid requests → bids → awards → outcomes. Namespace `AgentForge`, service `agentforge`.",
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(
      graph("Tasks", [
        app("TasksCreated"),
        app("TasksEnqueuedForDispatch"),
        app("TasksDispatched"),
        app("TasksNotDispatched"),
        app("TasksClosedWithoutBids"),
      ]),
      graph("Deliveries", [
        app("BidRequestsEnqueued"),
        app("BidRequestsDelivered"),
        app("BidRequestsFailed"),
        app("NoticesDelivered"),
        app("NoticesFailed"),
        app("DeliveriesSkippedCircuitOpen"),
      ]),
      graph("Bids", [app("BidsAccepted"), app("BidsDeclined"), app("CostReportsRecorded")]),
      graph("Awards and outcomes", [
        app("AwardsMade"),
        app("AwardsPendingApproval"),
        app("AwardFailures"),
        app("OutcomesRecorded"),
      ]),
    );
    dashboard.addWidgets(
      graph("Bids rejected, by reason", [byReason("BidsRejected")]),
      graph("Webhook deliveries", [
        app("WebhookDeliveriesAccepted"),
        app("WebhookDeliveriesProcessed"),
        app("WebhookDeliveriesDuplicate"),
        app("IntakeMessagesRejected"),
        app("WebhookPingsReceived"),
      ]),
      graph("Webhook deliveries rejected, by reason", [byReason("WebhookDeliveriesRejected")]),
    );
    dashboard.addWidgets(
      graph(
        "Agent messages refused before any write",
        [
          app("AgentMessagesUnauthenticated", "unsigned or forged"),
          app("AgentMessagesReplayed", "stale or replayed"),
        ],
        24,
      ),
    );
    dashboard.addWidgets(
      graph("Governance projection", [
        app("GovernanceEventsApplied"),
        app("GovernanceEventsDuplicate"),
        app("GovernanceRecordsFailed"),
        app("GovernanceRecordsMalformed"),
        app("GovernanceRecordsSkipped"),
      ]),
      graph("Award sweep lag (s)", [
        new Metric({
          namespace: METRICS_NAMESPACE,
          metricName: "AwardSweepLag",
          dimensionsMap: { service: SERVICE_NAME },
          statistic: "Maximum",
          period: Duration.minutes(1),
        }),
      ]),
      graph("HTTP API", [
        props.api.metricCount({ period: FIVE_MINUTES }),
        props.api.metricClientError({ period: FIVE_MINUTES }),
        props.api.metricServerError({ period: FIVE_MINUTES }),
      ]),
    );
    const projectorFailures = props.streamFailureQueues.projector;
    dashboard.addWidgets(
      graph(
        "Governance records set aside (permanent failures) and the projector's failure store",
        [
          app("GovernanceRecordsSkipped", "skipped (permanent)"),
          app("GovernanceRecordsFailed", "failed (retried)"),
          ...(projectorFailures
            ? [
                projectorFailures.metricApproximateNumberOfMessagesVisible({
                  statistic: "Maximum",
                  label: "in the failure store (awaiting replay)",
                }),
              ]
            : []),
        ],
        24,
      ),
    );
    const queues = Object.entries(props.queues) as Array<[QueueName, WorkQueue]>;
    dashboard.addWidgets(
      graph(
        "Queue depth (visible)",
        queues.map(([name, { queue }]) =>
          queue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum", label: name }),
        ),
      ),
      graph(
        "Oldest message (s)",
        queues.map(([name, { queue }]) =>
          queue.metricApproximateAgeOfOldestMessage({ statistic: "Maximum", label: name }),
        ),
      ),
      graph("Dead letters", [
        ...queues.map(([name, { dlq }]) =>
          dlq.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum", label: `${name} DLQ` }),
        ),
        ...Object.entries(props.streamFailureQueues).map(([id, queue]) =>
          queue.metricApproximateNumberOfMessagesVisible({
            statistic: "Maximum",
            label: `${id} stream failures`,
          }),
        ),
        props.scheduleDlq.metricApproximateNumberOfMessagesVisible({
          statistic: "Maximum",
          label: "schedules",
        }),
      ]),
    );
    const fns = props.functions;
    dashboard.addWidgets(
      graph(
        "Function errors",
        fns.map((f) => f.fn.metricErrors({ statistic: "Sum", label: f.spec.id })),
      ),
      graph(
        "Function throttles",
        fns.map((f) => f.fn.metricThrottles({ statistic: "Sum", label: f.spec.id })),
      ),
      graph(
        "Function duration p99 (ms)",
        fns.map((f) => f.fn.metricDuration({ statistic: "p99", label: f.spec.id })),
      ),
    );
    return dashboard;
  }
}
