import type { EmfOutput } from "@aws-lambda-powertools/metrics/types";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildBidWorker } from "../../functions/shared/container.js";
import { loadConfig } from "../../src/config.js";
import type { BidInput, BidReceipt, BidService } from "../../src/domain/bidding/bid.service.js";
import { createObservability } from "../../src/observability.js";
import { createBidBatchHandler, sentAtOf, signatureOf } from "../../src/workers/bid-worker.js";

const TASK_ID = "https://github.com/octo-org/octo-repo/issues/3";
const SIGNATURE = `sha256=${"ab".repeat(32)}`;

function record(overrides: Partial<SQSRecord> = {}): SQSRecord {
  return {
    messageId: "m-1",
    receiptHandle: "rh",
    body: '{"type":"BID"}',
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: String(Date.parse("2025-07-01T12:01:00.000Z")),
      SenderId: "agent",
      ApproximateFirstReceiveTimestamp: "0",
    },
    messageAttributes: { "X-AgentForge-Signature": { dataType: "String", stringValue: SIGNATURE } },
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:bids",
    awsRegion: "us-east-1",
    ...overrides,
  } as SQSRecord;
}

/** The worker over a scripted service, with its metrics and log lines captured. */
function worker(receipts: Record<string, BidReceipt | Error>, awardErrors: Record<string, string> = {}) {
  const inputs: BidInput[] = [];
  const emitted: EmfOutput[] = [];
  const lines: string[] = [];
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
  }
  const { logger, metrics } = createObservability({
    logLevel: "INFO",
    metricsSink: (emf) => emitted.push(emf),
  });
  const awardChecks: string[] = [];
  const bids: BidService = {
    async receive(input, options) {
      inputs.push(input);
      const receipt = receipts[input.messageId];
      if (!receipt || receipt instanceof Error) throw receipt ?? new Error("unscripted");
      if (receipt.status === "accepted" || receipt.status === "declined") {
        options?.deferAwardCheck?.(receipt.task_id);
      }
      return receipt;
    },
    async checkAward(taskId) {
      awardChecks.push(taskId);
      return awardErrors[taskId];
    },
  };
  return { handle: createBidBatchHandler({ bids, logger, metrics }), inputs, emitted, lines, awardChecks };
}

const counts = (emitted: EmfOutput[]) =>
  emitted.flatMap((emf) =>
    emf._aws.CloudWatchMetrics.flatMap((directive) =>
      directive.Metrics.map((m) => ({
        name: m.Name,
        dimensions: directive.Dimensions.flat(),
        reason: (emf as Record<string, unknown>).reason,
      })),
    ),
  );

afterEach(() => {
  vi.restoreAllMocks();
});

describe("bid worker record mapping", () => {
  it("reads the signature only from the exactly named attribute (SQS names are case-sensitive)", () => {
    expect(signatureOf(record())).toBe(SIGNATURE);
    expect(
      signatureOf(
        record({
          messageAttributes: { "x-agentforge-signature": { dataType: "String", stringValue: SIGNATURE } },
        } as Partial<SQSRecord>),
      ),
    ).toBeUndefined();
    expect(signatureOf(record({ messageAttributes: {} }))).toBeUndefined();
  });

  it("takes sentAt from SentTimestamp (epoch ms), else the clock", () => {
    const now = () => new Date("2025-07-02T00:00:00.000Z");

    expect(sentAtOf(record(), now)).toBe("2025-07-01T12:01:00.000Z");
    expect(sentAtOf(record({ attributes: {} as SQSRecord["attributes"] }), now)).toBe(now().toISOString());
  });
});

describe("bid worker batch handler", () => {
  const accepted: BidReceipt = { status: "accepted", task_id: TASK_ID, agent_id: "a", message_type: "BID" };
  const rejected: BidReceipt = {
    status: "rejected",
    reason: "LATE",
    detail: "sent after the deadline",
    authenticated: true,
    recorded: true,
    task_id: TASK_ID,
    agent_id: "b",
    message_type: "BID",
  };

  it("hands the raw body, signature, message id and send time to the service, in order", async () => {
    const { handle, inputs } = worker({ "m-1": accepted, "m-2": rejected });

    const response = await handle({
      Records: [record(), record({ messageId: "m-2", body: "second", messageAttributes: {} })],
    });

    expect(response).toEqual({ batchItemFailures: [] });
    expect(inputs).toEqual([
      { body: '{"type":"BID"}', signature: SIGNATURE, messageId: "m-1", sentAt: "2025-07-01T12:01:00.000Z" },
      { body: "second", messageId: "m-2", sentAt: "2025-07-01T12:01:00.000Z" },
    ]);
  });

  it("fails only the record whose processing throws", async () => {
    const { handle } = worker({ "m-1": accepted, "m-2": new Error("throttled"), "m-3": rejected });
    const event: SQSEvent = {
      Records: [record(), record({ messageId: "m-2" }), record({ messageId: "m-3" })],
    };

    expect(await handle(event)).toEqual({ batchItemFailures: [{ itemIdentifier: "m-2" }] });
  });

  it("counts each outcome; the rejection's reason dimension stays on BidsRejected alone", async () => {
    const { handle, emitted } = worker({
      "m-1": accepted,
      "m-2": rejected,
      "m-3": { status: "declined", task_id: TASK_ID, agent_id: "c", message_type: "DECLINE" },
      "m-4": { status: "cost_recorded", task_id: TASK_ID, agent_id: "a", message_type: "COST_REPORT" },
    });

    await handle({ Records: ["m-1", "m-2", "m-3", "m-4"].map((messageId) => record({ messageId })) });

    expect(counts(emitted)).toEqual([
      { name: "BidsAccepted", dimensions: ["service"], reason: undefined },
      { name: "BidsRejected", dimensions: ["service", "reason"], reason: "LATE" },
      { name: "BidsDeclined", dimensions: ["service"], reason: undefined },
      { name: "CostReportsRecorded", dimensions: ["service"], reason: undefined },
    ]);
  });

  it("checks each task with stored answers once, after the batch; a failed check fails no record", async () => {
    const other = "https://github.com/octo-org/octo-repo/issues/2";
    const { handle, awardChecks } = worker(
      {
        "m-1": accepted,
        "m-2": { status: "declined", task_id: TASK_ID, agent_id: "c", message_type: "DECLINE" },
        "m-3": rejected,
        "m-4": { ...accepted, task_id: other },
        "m-5": new Error("throttled"),
      },
      { [TASK_ID]: "Error: award service down" },
    );

    const response = await handle({
      Records: ["m-1", "m-2", "m-3", "m-4", "m-5"].map((messageId) => record({ messageId })),
    });

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "m-5" }] });
    expect(awardChecks).toEqual([TASK_ID, other]);
  });

  it("logs task, agent and message ids and the reason, never the signature", async () => {
    const { handle, lines } = worker(
      {
        "m-1": accepted,
        "m-2": rejected,
        "m-3": new Error("throttled"),
      },
      { [TASK_ID]: "Error: award service down" },
    );

    await handle({ Records: ["m-1", "m-2", "m-3"].map((messageId) => record({ messageId })) });

    const logs = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(logs).toEqual([
      expect.objectContaining({
        message: "Bid accepted",
        message_id: "m-1",
        task_id: TASK_ID,
        agent_id: "a",
      }),
      expect.objectContaining({ level: "WARN", message_id: "m-2", agent_id: "b", reason: "LATE" }),
      expect.objectContaining({ level: "ERROR", message_id: "m-3", receive_count: "1" }),
      // After the batch: the task's one early-award check.
      expect.objectContaining({
        level: "WARN",
        message: "Early award check failed; the deadline sweeper will award the task",
        task_id: TASK_ID,
        error: "Error: award service down",
      }),
    ]);
    expect(lines.join("\n")).not.toContain(SIGNATURE.slice(7));
  });
});

describe("bid worker entry point", () => {
  it("builds from a local configuration without touching the network", () => {
    const worker = buildBidWorker(
      loadConfig({
        AGENTFORGE_LOCAL: "true",
        DYNAMODB_ENDPOINT: "http://127.0.0.1:9",
        SQS_ENDPOINT: "http://127.0.0.1:9",
        BIDS_QUEUE_URL: "http://127.0.0.1:9/000000000000/bids",
      }),
    );

    expect(typeof worker.handle).toBe("function");
  });

  it("refuses a non-loopback DynamoDB endpoint in local mode", () => {
    expect(() =>
      buildBidWorker(
        loadConfig({
          AGENTFORGE_LOCAL: "true",
          DYNAMODB_ENDPOINT: "https://dynamodb.us-east-1.amazonaws.com",
        }),
      ),
    ).toThrow();
  });
});
