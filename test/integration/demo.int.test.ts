import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListQueuesCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SIGNATURE_ATTRIBUTE } from "../../examples/agent/src/protocol.js";
import { createSqsClient } from "../../src/adapters/sqs/client.js";
import { type ApiClient, apiPath, createApiClient } from "../../src/cli/api-client.js";
import type { AgentView } from "../../src/cli/responses.js";
import { fixedCredentials } from "../../src/cli/target.js";
import { type SimAgentEvent, startSimAgent } from "../../src/demo/sim-agent.js";
import { type DemoSummary, formatSummary, runDemoStory } from "../../src/demo/story.js";
import { rankBids } from "../../src/domain/bidding/scoring.js";
import { type LocalStack, startLocalStack } from "../../src/local/stack.js";
import { sealedMarketplaceMessage } from "../helpers/agent-messages.js";

const STORY_TIMEOUT_MS = 180_000;

const STEPS = [
  "agents registered",
  "issue opened",
  "bid requests",
  "bids",
  "award",
  "cost report",
  "PR merged and issue closed",
  "ledger entry",
  "performance history",
  "escrow released",
  "audit verified",
];

/** The winner the README's award rule picks from the summary's bids, every agent being new. */
function expectedWinner(summary: DemoSummary): string | undefined {
  const bids = summary.agents.flatMap((agent) =>
    agent.bidAmount === undefined || agent.estimatedCompletionSec === undefined
      ? []
      : [
          {
            agent_id: agent.agentId,
            bid_amount: agent.bidAmount,
            estimated_completion_sec: agent.estimatedCompletionSec,
            answered_at: "2025-07-01T12:00:00.000Z",
          },
        ],
  );
  return rankBids(bids, new Map())[0]?.bid.agent_id;
}

/**
 * `npm run demo`'s story against a real local stack started in this process (DynamoDB Local, the SQS
 * emulator, PGlite, every function behind its trigger, the HTTP API).
 */
describe("demo against the local stack", () => {
  let dataDir: string;
  let stack: LocalStack;
  let sqs: SQSClient;
  /** The operator (the stack's token). */
  let api: ApiClient;
  const agentApi = (apiKey: string) =>
    createApiClient({
      target: {
        apiUrl: stack.endpoints.api_url,
        local: true,
        credentials: fixedCredentials("agent", apiKey, "the test"),
      },
    });
  /** What the stack logged: function failures and stream give-ups land here. */
  const stackLog: string[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "agentforge-demo-"));
    stack = await startLocalStack({
      dataDir,
      inMemory: true,
      port: 0,
      // Embedded PGlite, whatever server the rest of the test run uses.
      env: { DATABASE_URL: undefined, POWERTOOLS_LOG_LEVEL: "SILENT" },
      log: (line) => stackLog.push(line),
    });
    const { endpoints, secrets } = stack;
    sqs = createSqsClient({ endpoint: endpoints.sqs_endpoint, region: endpoints.region, requireLocal: true });
    api = createApiClient({
      target: {
        apiUrl: endpoints.api_url,
        local: true,
        credentials: fixedCredentials("operator", secrets.api_token, "the test"),
      },
    });
  }, STORY_TIMEOUT_MS);

  afterAll(async () => {
    sqs?.destroy();
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  async function demoQueues(): Promise<string[]> {
    const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: "agentforge-demo-" }));
    return QueueUrls;
  }

  async function play(): Promise<{ summary: DemoSummary; lines: string[] }> {
    const lines: string[] = [];
    const summary = await runDemoStory({
      endpoints: stack.endpoints,
      secrets: stack.secrets,
      log: (line) => lines.push(line),
      timeoutMs: 60_000,
    });
    return { summary, lines };
  }

  it(
    "plays issue → bids → award → outcome → escrow → audit, and again on the same stack",
    async () => {
      const first = await play();
      const second = await play();

      for (const { summary, lines } of [first, second]) {
        expect(lines.filter((line) => line.startsWith("✓")).map((line) => line.slice(2, 28).trim())).toEqual(
          STEPS,
        );
        expect(summary.steps.map((s) => s.name)).toEqual(STEPS);
        expect(lines.filter((line) => line.trimStart().startsWith("!"))).toEqual([]);
        // Each agent confirmed its invitation with its own key, and saw its own bid only.
        expect(lines.filter((line) => line.includes("GET /tasks (own key)")).sort()).toEqual(
          ["frugal", "steady", "swift"].map(
            (name) => `    ${name.padEnd(8)}↔ GET /tasks (own key): invited, sees its own bid only`,
          ),
        );

        expect(summary.winner).toBe(expectedWinner(summary));
        expect(summary.winner).toMatch(/-frugal$/);
        const winner = summary.agents.find((a) => a.agentId === summary.winner);
        expect(winner).toMatchObject({
          bidAmount: 45,
          result: "won",
          actualCost: 40.5,
          qualityScore: 1,
          escrow: { status: "released" },
          performance: { total_tasks_completed: 1, success_rate: 1, average_cost_per_task: 40.5 },
        });
        expect(summary.agents.filter((a) => a !== winner).map((a) => a.result)).toEqual(["OUTBID", "OUTBID"]);
        expect(summary.ledger).toMatchObject({
          status: "SUCCESS",
          qualityScore: 1,
          bidAmount: 45,
          actualCost: 40.5,
        });
        expect(summary.escrow).toMatchObject({ status: "released", resolvedBy: "api" });
        expect(Number(summary.escrow.amount)).toBe(45);
        expect(formatSummary(summary)).toContain(summary.winner);
      }
      expect(second.summary.runId).not.toBe(first.summary.runId);
      expect(second.summary.auditRows).toBeGreaterThan(first.summary.auditRows);
      expect(stackLog.filter((line) => /failed|gave up/.test(line))).toEqual([]);

      // The agents retired: their queues are gone and their registrations suspended.
      expect(await demoQueues()).toEqual([]);
      for (const agent of first.summary.agents) {
        const { body } = await api.get<AgentView>(apiPath("agents", agent.agentId));
        expect(body.status).toBe("suspended");
      }
    },
    STORY_TIMEOUT_MS,
  );

  it("a simulated agent refuses messages not signed with its secret", async () => {
    const events: SimAgentEvent[] = [];
    const agentId = `demo-int-${Date.now()}`;
    const agent = await startSimAgent({
      agentId,
      capabilities: ["typescript"],
      costModel: "green",
      strategy: { price: 10, estimatedCompletionSec: 60, costRatio: 1 },
      sqs,
      operatorApi: api,
      agentApi,
      onEvent: (event) => events.push(event),
    });
    const taskId = "https://github.com/agentforge-demo/forged/issues/1";
    // A well-formed protocol v2 request addressed to it, but sealed with someone else's secret.
    const forged = sealedMarketplaceMessage(
      {
        type: "BID_REQUEST",
        task_id: taskId,
        agent_id: agentId,
        title: "forged",
        capabilities: ["typescript"],
        budget: 100,
        deadline: new Date(Date.now() + 60_000).toISOString(),
        reply_to: stack.endpoints.bids_queue_url,
      },
      "not-the-agent-secret",
    );

    await sqs.send(new SendMessageCommand({ QueueUrl: agent.queueUrl, MessageBody: forged.body }));
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: agent.queueUrl,
        MessageBody: forged.body,
        MessageAttributes: forged.attributes,
      }),
    );
    await expect.poll(() => events.length, { timeout: 20_000 }).toBe(2);
    // Its own key reads its own profile.
    expect(await agent.profile()).toMatchObject({ agent_id: agentId, status: "active" });
    await agent.stop();

    const refusal = {
      kind: "refused",
      agentId,
      reason: "BAD_SIGNATURE",
      detail: `no valid ${SIGNATURE_ATTRIBUTE} for this agent`,
    };
    expect(events).toEqual([refusal, refusal]);
    expect(agent.taskLog(taskId)).toEqual({});
    expect(await demoQueues()).toEqual([]);
    const { body: profile } = await api.get<AgentView>(apiPath("agents", agentId));
    expect(profile.status).toBe("suspended");
  }, 60_000);

  it("fails at the first step with the API's answer when the token is wrong, leaving no queues behind", async () => {
    const lines: string[] = [];
    const story = runDemoStory({
      endpoints: stack.endpoints,
      secrets: { ...stack.secrets, api_token: "not-the-token" },
      log: (line) => lines.push(line),
      timeoutMs: 10_000,
    });

    await expect(story).rejects.toThrow(
      "403 FORBIDDEN: Forbidden (the operator token from the stack's secrets.json was refused)",
    );
    expect(lines).toEqual([]);
    expect(await demoQueues()).toEqual([]);
  }, 60_000);
});
