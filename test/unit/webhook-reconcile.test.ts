import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RetryableConflict, withOptimisticRetry } from "../../src/adapters/dynamo/dynamo-errors.js";
import type { LedgerEntryInput } from "../../src/domain/ledger/ledger.schema.js";
import type { Award, TaskRecord } from "../../src/domain/tasks/task.types.js";
import type { IntakeMessage } from "../../src/domain/webhooks/intake-message.js";
import { createWebhookService } from "../../src/domain/webhooks/webhook.service.js";
import { createObservability } from "../../src/observability.js";
import type { TaskRepository } from "../../src/ports/task-repository.js";
import type { DeliveryRecord, WebhookStateRepository } from "../../src/ports/webhook-state.js";
import { createIntakeBatchHandler } from "../../src/workers/intake-worker.js";
import { issuesClosedPayload } from "../fixtures/github.js";

const CLOSED_AT = "2025-07-01T12:30:00Z";
const payload = issuesClosedPayload("completed", CLOSED_AT);
const TASK_URL: string = (payload as { issue: { html_url: string } }).issue.html_url;

const award: Award = {
  task_id: TASK_URL,
  agent_id: "agent-7",
  bid_amount: 40,
  status: "AWARDED",
  awarded_at: "2025-07-01T12:05:00.000Z",
} as Award;

/** The task's stored record: awarded, closed as completed, nothing in the ledger yet. */
function taskRecord(withAward: Award): TaskRecord {
  return {
    task: {
      task_id: TASK_URL,
      status: "AWARDED",
      evidence: {
        lifecycle: { closed: { kind: "closed_completed", at: CLOSED_AT } },
        merges: {},
        checks: {},
        reviews: {},
      },
    },
    bids: [],
    award: withAward,
    ledger: [],
    rejections: [],
  } as unknown as TaskRecord;
}

/** A webhook service over in-memory doubles; `recordOutcome` decides what writing the entry does. */
function service(recordOutcome: (entry: LedgerEntryInput) => Promise<never>, withAward = award) {
  const remembered: DeliveryRecord[] = [];
  const tasks = {
    getTaskRecord: async () => taskRecord(withAward),
    applyEvidence: async () => taskRecord(withAward).task,
    recordOutcome: vi.fn(recordOutcome),
  } as unknown as TaskRepository & { recordOutcome: ReturnType<typeof vi.fn> };
  const state = {
    seen: async () => false,
    bodyClaimedBy: async () => undefined,
    remember: async (record: DeliveryRecord) => {
      remembered.push(record);
      return { remembered: true };
    },
  } as unknown as WebhookStateRepository;
  const webhooks = createWebhookService({
    tasks,
    state,
    bidWindowSeconds: 300,
    marketplaceLabel: "agentforge",
    humanInterventionLabel: "needs-human",
  });
  return { webhooks, tasks, remembered };
}

const message: IntakeMessage = {
  delivery_id: "d6f8a3c0-0000-11f0-8000-000000000001",
  event: "issues",
  received_at: "2025-07-01T12:30:01.000Z",
  payload: payload as unknown as Record<string, unknown>,
};

const sqsRecord = { messageId: "m-1", body: JSON.stringify(message) } as SQSRecord;

afterEach(() => {
  vi.useRealTimers();
});

describe("intake worker: retries stay inside the invocation", () => {
  it("a record whose outcome keeps losing races fails before the timeout, not after 5 × 20 s", async () => {
    vi.useFakeTimers();
    const started = Date.now();
    // Every write of the entry loses its race: the repository's optimistic retry (20 s budget) runs
    // inside each of the 5 reconcile rounds, 100 s in all without a deadline.
    // (Attempts are not what stops it here: only time.)
    const { webhooks, tasks } = service(() =>
      withOptimisticRetry(
        "outcome",
        async () => {
          throw new RetryableConflict("lost");
        },
        { attempts: 1_000_000 },
      ),
    );
    const { logger, metrics } = createObservability({ logLevel: "SILENT", metricsSink: () => {} });
    const handle = createIntakeBatchHandler({ webhooks, logger, metrics });
    // The intake worker's 30 s timeout, as Lambda's context reports it.
    const context = { getRemainingTimeInMillis: () => 30_000 - (Date.now() - started) } as Context;
    let finishedAt: number | undefined;

    // A second, malformed record is acknowledged, so the response is a partial batch failure.
    const malformed = { messageId: "m-2", body: "not json" } as SQSRecord;
    const pending = handle({ Records: [sqsRecord, malformed] } as SQSEvent, context).then((response) => {
      finishedAt = Date.now();
      return response;
    });
    await vi.advanceTimersByTimeAsync(120_000);
    const response = await pending;

    // A batch item failure (SQS retries the message), answered before the 3 s safety margin.
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "m-1" }] });
    expect(finishedAt).toBeDefined();
    expect((finishedAt ?? Number.POSITIVE_INFINITY) - started).toBeLessThanOrEqual(27_000);
    // Round 1 spent its own 20 s budget (a ConflictError: judged again); round 2 stopped at the
    // deadline (27 s) instead of running on to 40 s, and no third round started.
    expect(tasks.recordOutcome).toHaveBeenCalledTimes(2);
  });

  it("without a deadline the same record still gives up after its budgets (a ConflictError: retried)", async () => {
    vi.useFakeTimers();
    const { webhooks, tasks } = service(() =>
      withOptimisticRetry(
        "outcome",
        async () => {
          throw new RetryableConflict("lost");
        },
        { budgetMs: 100 },
      ),
    );

    const pending = webhooks.process(message).then(
      () => "resolved",
      (error: Error) => error.name,
    );
    await vi.advanceTimersByTimeAsync(10_000);

    expect(await pending).toBe("ConflictError");
    expect(tasks.recordOutcome).toHaveBeenCalledTimes(5);
  });
});

describe("webhook service: the ledger entry is validated before it is written", () => {
  it("an award that cannot make a valid entry rejects the delivery with the reason; nothing is written", async () => {
    const corrupted = { ...award, bid_amount: -5, agent_id: "" } as Award;
    const { webhooks, tasks, remembered } = service(async () => {
      throw new Error("must not be called");
    }, corrupted);

    const result = await webhooks.process(message);

    expect(result).toMatchObject({
      status: "rejected",
      reason: expect.stringContaining("Invalid ledger entry"),
    });
    expect(result.status === "rejected" && result.reason).toMatch(/bid_amount/);
    expect(result.status === "rejected" && result.reason).toMatch(/winning_agent_id/);
    expect(tasks.recordOutcome).not.toHaveBeenCalled();
    expect(remembered).toMatchObject([{ delivery_id: message.delivery_id, result: "rejected" }]);
  });

  it("a valid entry reaches the repository as built", async () => {
    const written: LedgerEntryInput[] = [];
    const { webhooks } = service(async (entry) => {
      written.push(entry);
      throw new Error("stop here");
    });

    await expect(webhooks.process(message)).rejects.toThrow("stop here");

    expect(written).toEqual([
      {
        task_id: TASK_URL,
        winning_agent_id: "agent-7",
        bid_amount: 40,
        actual_cost: 40,
        status: "SUCCESS",
        quality_score: expect.any(Number),
        completion_timestamp: CLOSED_AT,
        completion_time_sec: 1500,
      },
    ]);
  });
});
