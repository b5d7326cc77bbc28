import { randomBytes, randomInt, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { createSqsClient } from "../adapters/sqs/client.js";
import { apiPath, createApiClient } from "../cli/api-client.js";
import { ApiError } from "../cli/errors.js";
import type { AuditVerification, EscrowPage, TaskRecordView, WebhookAnswer } from "../cli/responses.js";
import { fixedCredentials } from "../cli/target.js";
import { WEBHOOK_PATH, webhookHeaders } from "../cli/webhook-delivery.js";
import type { CostModel } from "../domain/agents/agent.schema.js";
import type { PerformanceHistory } from "../domain/agents/performance.js";
import { qualityScore } from "../domain/ledger/quality.js";
import { textTableLines } from "../lib/text-table.js";
import type { LocalEndpoints, LocalSecrets } from "../local/stack-files.js";
import {
  checkSuiteCompletedPayload,
  type IssueSpec,
  issueClosedPayload,
  issueOpenedPayload,
  issueUrl,
  type PullRequestSpec,
  pullRequestMergedPayload,
  pullRequestReviewPayload,
} from "./github-payloads.js";
import { type BidStrategy, type SimAgent, type SimAgentEvent, startSimAgent } from "./sim-agent.js";

/** A step that did not complete, a refused request, or an unexpected turn of the story. */
export class DemoError extends Error {
  override name = "DemoError";
}

export interface DemoStoryOptions {
  endpoints: LocalEndpoints;
  secrets: LocalSecrets;
  /** Receives each progress line. */
  log: (line: string) => void;
  /** How long each step may take (default 60 s). */
  timeoutMs?: number;
}

/** One agent's part in the story, for the summary table. */
export interface AgentSummary {
  agentId: string;
  bidAmount?: number;
  estimatedCompletionSec?: number;
  /** `won`, `declined`, or the rejection's reason code (`OUTBID`, …). */
  result: string;
  actualCost?: number;
  qualityScore?: number;
  escrow?: { status: string; amount: string };
  performance: PerformanceHistory;
}

/** The story's steps, in order: the issue's steps, after the agents join. */
export type StepName =
  | "agents registered"
  | "issue opened"
  | "bid requests"
  | "bids"
  | "award"
  | "cost report"
  | "PR merged and issue closed"
  | "ledger entry"
  | "performance history"
  | "escrow released"
  | "audit verified";

export interface DemoSummary {
  runId: string;
  taskId: string;
  budget: number;
  winner: string;
  agents: AgentSummary[];
  ledger: {
    status: string;
    qualityScore: number;
    bidAmount: number;
    actualCost: number;
    completionTimeSec?: number;
    /** Entries on the task's ledger: more than one when evidence arrived after the close. */
    entries: number;
  };
  escrow: { id: string; status: string; amount: string; resolvedBy: string | null };
  auditRows: number;
  steps: Array<{ name: StepName; ms: number }>;
  totalMs: number;
}

const BUDGET = 100;

/** Three agents that can all do the task, at different prices and speeds. */
const LINEUP: ReadonlyArray<{ name: string; costModel: CostModel; strategy: BidStrategy }> = [
  {
    name: "frugal",
    costModel: "green",
    strategy: { price: 45, estimatedCompletionSec: 5400, costRatio: 0.9 },
  },
  {
    name: "steady",
    costModel: "yellow",
    strategy: { price: 60, estimatedCompletionSec: 3600, costRatio: 1 },
  },
  {
    name: "swift",
    costModel: "orange",
    strategy: { price: 80, estimatedCompletionSec: 1800, costRatio: 0.95 },
  },
];

/** The evidence the story gives GitHub's side: an approved review, green checks and a merge. */
const EXPECTED_QUALITY = qualityScore("SUCCESS", {
  merged: true,
  checkConclusions: ["success"],
  reviewStates: ["approved"],
  reopens: 0,
});

const POLL_INTERVAL_MS = 200;

/** The step an agent's message belongs to; refusals and failures belong to none. */
function stepOf(event: SimAgentEvent): StepName | undefined {
  if (event.kind === "confirmed") return "bid requests";
  if (event.kind === "received") return event.message.type === "BID_REQUEST" ? "bid requests" : "award";
  if (event.kind === "sent") return event.message.type === "COST_REPORT" ? "cost report" : "bids";
  return undefined;
}

type Probe<T> = () => Promise<{ done: true; value: T } | { done: false; waitingFor: string }>;
const done = <T>(value: T) => ({ done: true as const, value });
const waiting = (waitingFor: string) => ({ done: false as const, waitingFor });

const shortName = (agentId: string) => agentId.replace(/^demo-[0-9a-f]+-/, "");
/** `OUTBID` of `OUTBID: another bid ranked higher…`. */
const reasonCode = (reason: string) => reason.replace(/:.*$/s, "");

/** One progress line for what an agent did. */
export function describeAgentEvent(event: SimAgentEvent): string {
  const who = shortName(event.agentId).padEnd(8);
  switch (event.kind) {
    case "received": {
      const m = event.message;
      if (m.type === "BID_REQUEST")
        return `    ${who}← BID_REQUEST budget ${m.budget ?? "none"} (signature ok)`;
      if (m.type === "AWARD") return `    ${who}← AWARD at ${m.bid_amount} (signature ok)`;
      return `    ${who}← REJECTION ${reasonCode(m.reason)} (signature ok)`;
    }
    case "sent": {
      const m = event.message;
      if (m.type === "BID") return `    ${who}→ BID ${m.bid_amount}, ETA ${m.estimated_completion_sec} s`;
      if (m.type === "COST_REPORT") return `    ${who}→ COST_REPORT ${m.actual_cost}`;
      return `    ${who}→ DECLINE`;
    }
    case "confirmed": {
      const others = event.visibleBids.filter((id) => id !== event.agentId).map(shortName);
      return `    ${who}↔ GET /tasks (own key): invited, sees ${others.length === 0 ? "its own bid only" : `the bids of ${others.join(", ")} too`}`;
    }
    case "refused":
      return `  ! ${who}refused a message (${event.reason}): ${event.detail}`;
    case "failed":
      return `  ! ${who}failed: ${event.error.message}`;
  }
}

/**
 * Plays one task's whole story against a running local stack, through its public interfaces only:
 * signed GitHub webhooks, the REST API, and three simulated agents that consume their own SQS queues.
 * The story reads the marketplace as an operator (the stack's token); each agent reads what is its
 * own (its invitation, its profile) with the API key its registration returned.
 *
 * agents registered → issue opened → bid requests → bids → award → cost report → PR merged and issue
 * closed → ledger entry → performance history → escrow released → audit verified
 *
 * Each step logs one line with its duration once the REST API shows its effect, followed by what the
 * agents received and sent for it, or fails with a {@link DemoError} naming the step and what it was still waiting for after `timeoutMs`. Ids are
 * unique per run (agents, repository, issue), so it can run again and again on a persistent stack.
 * The agents' capabilities include one only this run uses, so agents from earlier runs (or
 * registered by hand) are never invited and the award runs as soon as these three answer.
 */
export async function runDemoStory({
  endpoints,
  secrets,
  log,
  timeoutMs = 60_000,
}: DemoStoryOptions): Promise<DemoSummary> {
  const runId = randomBytes(4).toString("hex");
  const site = { apiUrl: endpoints.api_url, local: true };
  const api = createApiClient({
    target: {
      ...site,
      credentials: fixedCredentials("operator", secrets.api_token, "the stack's secrets.json"),
    },
  });
  const agentApi = (apiKey: string) =>
    createApiClient({
      target: { ...site, credentials: fixedCredentials("agent", apiKey, "its registration") },
    });
  const sqs = createSqsClient({
    endpoint: endpoints.sqs_endpoint,
    region: endpoints.region,
    requireLocal: true,
  });
  const agents: SimAgent[] = [];
  const storyStart = performance.now();
  const steps: DemoSummary["steps"] = [];
  // Agents run ahead of what the REST API shows: each agent line waits for its step's line, so the
  // output reads in story order (a failed story prints what is still held). Refusals and failures
  // print at once.
  const heldLines = new Map<StepName, string[]>();
  const onAgentEvent = (event: SimAgentEvent) => {
    const line = describeAgentEvent(event);
    const owner = stepOf(event);
    if (owner === undefined || steps.some((s) => s.name === owner)) log(line);
    else heldLines.set(owner, [...(heldLines.get(owner) ?? []), line]);
  };

  /** Runs one step; `until` polls a probe until it is done or the step's deadline passes. */
  async function step<T>(
    name: StepName,
    body: (until: <V>(probe: Probe<V>) => Promise<V>) => Promise<{ value: T; detail: string }>,
  ): Promise<T> {
    const start = performance.now();
    const deadline = Date.now() + timeoutMs;
    const until = async <V>(probe: Probe<V>): Promise<V> => {
      for (;;) {
        const result = await probe();
        if (result.done) return result.value;
        if (Date.now() >= deadline) {
          throw new DemoError(`Step "${name}" timed out after ${timeoutMs} ms: ${result.waitingFor}`);
        }
        await sleep(POLL_INTERVAL_MS);
      }
    };
    const { value, detail } = await body(until);
    const ms = Math.round(performance.now() - start);
    steps.push({ name, ms });
    log(`✓ ${name.padEnd(26)} ${String(ms).padStart(6)} ms  ${detail}`);
    for (const line of heldLines.get(name) ?? []) log(line);
    heldLines.delete(name);
    return value;
  }

  const capabilities = ["typescript", `demo-${runId}`];
  const repository = { id: randomInt(1, 2 ** 31), owner: "agentforge-demo", name: `run-${runId}` };
  const issue: IssueSpec = {
    repository,
    number: 1,
    title: `Add retry with backoff to the webhook client (demo ${runId})`,
    labels: ["agentforge", ...capabilities.map((c) => `cap:${c}`), `budget:${BUDGET}`],
    body: "Calls to the partner API fail on transient 503s. Retry them with exponential backoff.",
    author: "octocat",
    openedAt: new Date(),
  };
  const taskId = issueUrl(issue);

  /** POSTs a GitHub delivery signed with the stack's webhook secret; the receiver answers 202 once it is queued. */
  const deliver = async (event: string, payload: Record<string, unknown>): Promise<void> => {
    const body = Buffer.from(JSON.stringify(payload));
    const headers = webhookHeaders(secrets.github_webhook_secret, body, event, randomUUID());
    const { status, body: answer } = await api.webhook<WebhookAnswer>({ headers, body });
    if (!answer.accepted)
      throw new DemoError(`POST ${WEBHOOK_PATH} (${event}) answered ${status}, not queued`);
  };

  const readRecord = async (): Promise<TaskRecordView | undefined> => {
    try {
      return (await api.get<TaskRecordView>(apiPath("tasks", taskId))).body;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    }
  };
  /** The task record once `ready` holds; a task closed without bids or held for approval ends the story. */
  const recordWhen =
    (ready: (record: TaskRecordView) => string | undefined): Probe<TaskRecordView> =>
    async () => {
      const record = await readRecord();
      if (!record) return waiting("GET /tasks answers 404: the intake worker has not created the task");
      if (record.task.status === "NO_BIDS") throw new DemoError("The task was closed with no valid bids");
      if (record.award?.status === "PENDING_APPROVAL") {
        throw new DemoError(
          `The award to ${record.award.agent_id} waits for human approval (APPROVAL_THRESHOLD or a Bronze agent): approve it with POST /approvals/{id}/approve`,
        );
      }
      const missing = ready(record);
      return missing === undefined ? done(record) : waiting(missing);
    };

  try {
    await step("agents registered", async () => {
      const started = await Promise.allSettled(
        LINEUP.map(({ name, costModel, strategy }) =>
          startSimAgent({
            agentId: `demo-${runId}-${name}`,
            capabilities,
            costModel,
            strategy,
            sqs,
            operatorApi: api,
            agentApi,
            onEvent: onAgentEvent,
          }),
        ),
      );
      for (const result of started) if (result.status === "fulfilled") agents.push(result.value);
      const failure = started.find((result) => result.status === "rejected");
      if (failure) throw failure.reason;
      return {
        value: undefined,
        detail: `${agents.map((a) => shortName(a.agentId)).join(", ")}, each consuming its own queue`,
      };
    });

    await step("issue opened", async (until) => {
      await deliver("issues", issueOpenedPayload(issue));
      await until(recordWhen(() => undefined));
      return { value: undefined, detail: `${taskId} is a task (${issue.labels.join(", ")})` };
    });

    await step("bid requests", async (until) => {
      const record = await until(
        recordWhen((r) => {
          const delivered = r.bids.filter((b) => b.delivery_status === "DELIVERED").length;
          const received = agents.filter((a) => a.taskLog(taskId).request).length;
          const confirmed = agents.filter((a) => a.taskLog(taskId).invitation).length;
          return delivered === agents.length && received === agents.length && confirmed === agents.length
            ? undefined
            : `${delivered} of ${agents.length} bid requests delivered, ${received} received and ${confirmed} confirmed by the agents`;
        }),
      );
      for (const agent of agents) {
        const seen = agent.taskLog(taskId).invitation?.bids.map((b) => b.agent_id) ?? [];
        if (seen.length !== 1 || seen[0] !== agent.agentId) {
          throw new DemoError(
            `${agent.agentId}'s own key reads the bids of ${seen.join(", ") || "nobody"}: an agent must see its own bid only`,
          );
        }
      }
      return {
        value: record,
        detail: `${record.bids.length} capable agents invited, each request signed; each agent's key reads only its own bid`,
      };
    });

    const answered = await step("bids", async (until) => {
      const record = await until(
        recordWhen((r) => {
          const answered = r.bids.filter((b) => b.status !== "INVITED").length;
          return answered === agents.length
            ? undefined
            : `${answered} of ${agents.length} invited agents have answered`;
        }),
      );
      const offers = record.bids.map((b) => `${shortName(b.agent_id)} ${b.bid_amount ?? "declined"}`);
      return { value: record, detail: `signed bids accepted: ${offers.join(", ")}` };
    });

    const award = await step("award", async (until) => {
      const record = await until(
        recordWhen((r) => {
          if (!r.award) return "no award yet";
          const notified = r.bids.filter((b) => b.notice_status === "DELIVERED").length;
          const bidders = r.bids.filter((b) => b.status === "ACCEPTED").length;
          const noticed = agents.filter((a) => a.taskLog(taskId).notice).length;
          return notified === bidders && noticed === bidders
            ? undefined
            : `${notified} of ${bidders} notices delivered, ${noticed} received by the agents`;
        }),
      );
      const won = record.award as NonNullable<TaskRecordView["award"]>;
      return {
        value: won,
        detail: `${shortName(won.agent_id)} wins at ${won.bid_amount}; AWARD and REJECTION notices delivered`,
      };
    });

    const actualCost = await step("cost report", async (until) => {
      const record = await until(
        recordWhen((r) =>
          r.award?.actual_cost === undefined ? "no cost report on the award yet" : undefined,
        ),
      );
      const cost = record.award?.actual_cost as number;
      return { value: cost, detail: `${shortName(award.agent_id)} reports an actual cost of ${cost}` };
    });

    const pullRequest: PullRequestSpec = {
      repository,
      number: 2,
      title: "Retry transient webhook client failures",
      body: `Retries 429/503 responses with jittered exponential backoff.\n\nFixes #${issue.number}`,
      author: award.agent_id,
      branch: `agentforge/issue-${issue.number}`,
      headSha: randomBytes(20).toString("hex"),
      openedAt: new Date(),
    };
    await step("PR merged and issue closed", async () => {
      // GitHub stamps events in whole seconds: start in the second after the award, so that the
      // outcome is never stamped before it (the completion time is measured from the award).
      const firstSecondAfterAward = (Math.floor(Date.parse(award.awarded_at) / 1000) + 1) * 1000;
      await sleep(Math.max(0, firstSecondAfterAward - Date.now()));
      const at = new Date();
      // In the order GitHub sends them; the outcome is judged by their timestamps whatever the order.
      await deliver(
        "pull_request_review",
        pullRequestReviewPayload(pullRequest, { reviewer: "octocat", state: "approved", submittedAt: at }),
      );
      await deliver(
        "check_suite",
        checkSuiteCompletedPayload(pullRequest, { conclusion: "success", completedAt: at }),
      );
      await deliver(
        "pull_request",
        pullRequestMergedPayload(pullRequest, { mergedAt: at, mergedBy: "octocat" }),
      );
      await deliver("issues", issueClosedPayload(issue, { closedAt: at, closedBy: "octocat" }));
      return {
        value: undefined,
        detail: `PR #${pullRequest.number} approved, checks green, merged ("Fixes #${issue.number}"); issue closed as completed`,
      };
    });

    const ledger = await step("ledger entry", async (until) => {
      const record = await until(
        recordWhen((r) => {
          const latest = r.ledger.at(-1);
          if (!latest) return "no ledger entry yet";
          return latest.status === "SUCCESS" && latest.quality_score === EXPECTED_QUALITY
            ? undefined
            : `latest ledger entry is ${latest.status} with quality ${latest.quality_score}`;
        }),
      );
      const entry = record.ledger.at(-1) as TaskRecordView["ledger"][number];
      return {
        value: { entry, entries: record.ledger.length },
        detail: `${entry.status}, quality ${entry.quality_score}, bid ${entry.bid_amount}, cost ${entry.actual_cost}`,
      };
    });

    /** Each agent reads its own profile, with its own key. */
    const performanceOf = async (agent: SimAgent): Promise<PerformanceHistory> =>
      (await agent.profile()).performance_history;
    const winner = agents.find((agent) => agent.agentId === award.agent_id);
    if (!winner) throw new DemoError(`The award went to ${award.agent_id}, not one of this run's agents`);

    const history = await step("performance history", async (until) => {
      const value = await until(async () => {
        const performance = await performanceOf(winner);
        return performance.total_tasks_completed === 1
          ? done(performance)
          : waiting(`${award.agent_id} has ${performance.total_tasks_completed} completed tasks`);
      });
      return {
        value,
        detail: `${shortName(award.agent_id)}: ${value.total_tasks_completed} task, success rate ${value.success_rate}, average cost ${value.average_cost_per_task}`,
      };
    });

    const escrow = await step("escrow released", async (until) => {
      const value = await until(async () => {
        const { body } = await api.get<EscrowPage>("/escrows", { task_id: taskId });
        const [first] = body.items;
        if (!first)
          return waiting("no escrow for the task yet (the governance projector follows the table stream)");
        return first.status === "released" ? done(first) : waiting(`the escrow is ${first.status}`);
      });
      return {
        value,
        detail: `${value.amount} paid out to ${shortName(value.agent_id)} (resolved by ${value.resolved_by})`,
      };
    });

    const auditRows = await step("audit verified", async () => {
      const { body: audit } = await api.get<AuditVerification>("/audit/verify");
      if (!audit.ok) {
        throw new DemoError(`The audit chain is broken at seq ${audit.first_bad_seq}: ${audit.reason}`);
      }
      return { value: audit.rows, detail: `hash chain intact over ${audit.rows} rows` };
    });

    const rows: AgentSummary[] = [];
    for (const agent of agents) {
      const bid = answered.bids.find((b) => b.agent_id === agent.agentId);
      const notice = agent.taskLog(taskId).notice;
      const won = agent.agentId === award.agent_id;
      rows.push({
        agentId: agent.agentId,
        bidAmount: bid?.bid_amount,
        estimatedCompletionSec: bid?.estimated_completion_sec,
        result: won ? "won" : notice?.type === "REJECTION" ? reasonCode(notice.reason) : "declined",
        ...(won
          ? {
              actualCost,
              qualityScore: ledger.entry.quality_score,
              escrow: { status: escrow.status, amount: escrow.amount },
            }
          : {}),
        performance: won ? history : await performanceOf(agent),
      });
    }

    return {
      runId,
      taskId,
      budget: BUDGET,
      winner: award.agent_id,
      agents: rows,
      ledger: {
        status: ledger.entry.status,
        qualityScore: ledger.entry.quality_score,
        bidAmount: ledger.entry.bid_amount,
        actualCost: ledger.entry.actual_cost,
        completionTimeSec: ledger.entry.completion_time_sec,
        entries: ledger.entries,
      },
      escrow: { id: escrow.id, status: escrow.status, amount: escrow.amount, resolvedBy: escrow.resolved_by },
      auditRows,
      steps,
      totalMs: Math.round(performance.now() - storyStart),
    };
  } finally {
    for (const line of [...heldLines.values()].flat()) log(line);
    await Promise.allSettled(agents.map((agent) => agent.stop()));
    sqs.destroy();
  }
}

const money = (amount: number | string | undefined) =>
  amount === undefined ? "—" : Number(amount).toFixed(2);

function duration(seconds: number | undefined): string {
  if (seconds === undefined) return "—";
  if (seconds < 60) return `${seconds} s`;
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.round((seconds % 3600) / 60);
  return hours === 0 ? `${minutes}m` : minutes === 0 ? `${hours}h` : `${hours}h ${minutes}m`;
}

/** Left-aligned text columns separated by two spaces, under a header and a rule. */
const table = (header: string[], rows: string[][]): string[] => textTableLines(header, rows, { rule: true });

/** The summary as printed at the end of `npm run demo`: one row per agent, then the task's record. */
export function formatSummary(summary: DemoSummary): string {
  const rows = summary.agents.map((agent) => [
    agent.agentId,
    money(agent.bidAmount),
    duration(agent.estimatedCompletionSec),
    agent.result,
    money(agent.actualCost),
    agent.qualityScore === undefined ? "—" : agent.qualityScore.toFixed(2),
    agent.escrow ? `${agent.escrow.status} ${money(agent.escrow.amount)}` : "—",
    String(agent.performance.total_tasks_completed),
    agent.performance.total_tasks_completed === 0
      ? "—"
      : `${Math.round(agent.performance.success_rate * 100)}%`,
  ]);
  const { ledger } = summary;
  return [
    ...table(["agent", "bid", "ETA", "result", "cost", "quality", "escrow", "tasks", "success"], rows),
    "",
    `task     ${summary.taskId} (budget ${money(summary.budget)})`,
    `ledger   ${ledger.status}, quality ${ledger.qualityScore}, bid ${money(ledger.bidAmount)}, cost ${money(ledger.actualCost)}, completed in ${duration(ledger.completionTimeSec)}${ledger.entries > 1 ? ` (${ledger.entries} entries: later evidence corrected the first)` : ""}`,
    `escrow   ${summary.escrow.status} by ${summary.escrow.resolvedBy ?? "—"}, ${money(summary.escrow.amount)} to ${summary.winner}`,
    `audit    ok, ${summary.auditRows} rows verified`,
    `time     ${summary.totalMs} ms for ${summary.steps.length} steps`,
  ].join("\n");
}
