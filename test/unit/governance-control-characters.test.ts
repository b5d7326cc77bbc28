import type { EmfOutput } from "@aws-lambda-powertools/metrics/types";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import type { DynamoDBRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import {
  type GovernanceEvent,
  governanceEventsOf,
  MalformedChangeError,
} from "../../src/domain/governance/projection.js";
import { createObservability } from "../../src/observability.js";
import { createGovernanceStreamHandler, PROJECTOR_METRICS } from "../../src/workers/governance-stream.js";

const AT = "2030-01-01T00:00:00.000Z";
const TASK = "https://github.com/o/r/issues/7";

const profile = (overrides: Record<string, unknown> = {}) => ({
  type: "AGENT_PROFILE",
  agent_id: "a1",
  capabilities: new Set(["python"]),
  bidding_endpoint: "https://agent.example/bids",
  endpoint_kind: "https",
  status: "active",
  kill_switch_active: false,
  wallet_address: "wallet-1",
  performance_totals: { outcomes: 0, successes: 0, quality_micros: 0 },
  version: 1,
  updated_at: AT,
  ...overrides,
});

const rejection = (overrides: Record<string, unknown> = {}) => ({
  type: "BID_REJECTION",
  task_id: TASK,
  received_at: AT,
  message_id: "m-1",
  agent_id: "a1",
  message_type: "BID",
  reason: "LATE: sent after the deadline",
  ...overrides,
});

/** Every string field of a followed item, with the item it belongs to. */
const images: Array<[string, Record<string, unknown>, string[]]> = [
  [
    "agent profile",
    profile({
      kill_switch_reason: "why",
      cost_model: "green",
      updated_by: "operator:o",
      audit_level: "Gold",
    }),
    [
      "agent_id",
      "bidding_endpoint",
      "kill_switch_reason",
      "cost_model",
      "wallet_address",
      "updated_by",
      "audit_level",
      "updated_at",
    ],
  ],
  [
    "bid",
    {
      type: "BID",
      task_id: TASK,
      agent_id: "a1",
      status: "ACCEPTED",
      bid_amount: 1,
      answered_at: AT,
      sent_at: AT,
    },
    ["task_id", "agent_id", "answered_at", "sent_at"],
  ],
  [
    "bid rejection",
    rejection(),
    ["task_id", "received_at", "message_id", "agent_id", "message_type", "reason"],
  ],
  [
    "award",
    {
      type: "AWARD",
      task_id: TASK,
      agent_id: "a1",
      bid_amount: 1,
      status: "PENDING_APPROVAL",
      awarded_at: AT,
      approval_reason: "over threshold",
      worker_wallet: "wallet-1",
    },
    ["task_id", "agent_id", "awarded_at", "approval_reason", "worker_wallet"],
  ],
  [
    "ledger entry",
    {
      type: "TASK_LEDGER_ENTRY",
      task_id: TASK,
      winning_agent_id: "a1",
      bid_amount: 1,
      actual_cost: 1,
      status: "SUCCESS",
      quality_score: 1,
      completion_timestamp: AT,
      supersedes: AT,
      recorded_at: AT,
    },
    ["task_id", "winning_agent_id", "completion_timestamp", "supersedes", "recorded_at"],
  ],
];

const CONTROLS = ["\u0000", "\u0009", "\u000a", "\u001f", "\u007f", "\u009b"];

describe("governance projection and control characters", () => {
  it.each(images)("a %s whose string fields are clean projects", (_what, image) => {
    expect(governanceEventsOf({ eventName: "INSERT", newImage: image, approximateAt: AT })).not.toEqual([]);
  });

  it.each(images)(
    "a %s with a control character in any string field is malformed",
    (_what, image, fields) => {
      for (const field of fields) {
        for (const control of CONTROLS) {
          const bad = { ...image, [field]: `x${control}y` };
          expect(
            () => governanceEventsOf({ eventName: "INSERT", newImage: bad, approximateAt: AT }),
            `${field} with U+${control.codePointAt(0)?.toString(16).padStart(4, "0")}`,
          ).toThrow(MalformedChangeError);
        }
      }
    },
  );

  it("a capability with a control character makes a profile malformed", () => {
    const bad = profile({ capabilities: new Set(["python", "ru\u0000st"]) });
    expect(() => governanceEventsOf({ eventName: "INSERT", newImage: bad, approximateAt: AT })).toThrow(
      MalformedChangeError,
    );
  });

  it("the change that cleans a profile stored with a control character is still projected", () => {
    const [event] = governanceEventsOf({
      eventName: "MODIFY",
      oldImage: profile({ bidding_endpoint: "https://agent.example/\u0000", wallet_address: "w\u0000" }),
      newImage: profile({ version: 2, wallet_address: "wallet-2" }),
      approximateAt: AT,
    });

    expect(event).toMatchObject({
      kind: "AGENT",
      changed: ["bidding_endpoint", "wallet_address"],
      wallet: { from: "w?", to: "wallet-2" },
    });
    expect(JSON.stringify(event)).not.toMatch(/\\u00|\p{Cc}/u);
  });
});

describe("governance stream handler and a record with a control character", () => {
  function streamRecord(sequence: string, image: Record<string, unknown>): DynamoDBRecord {
    return {
      eventID: `e-${sequence}`,
      eventName: "INSERT",
      dynamodb: {
        SequenceNumber: sequence,
        ApproximateCreationDateTime: Date.parse(AT) / 1000,
        NewImage: marshall(image, { convertEmptyValues: false }) as Record<string, AttributeValue> as never,
      },
    };
  }

  it("skips it and counts it as malformed, applies the records after it and reports no failure", async () => {
    const applied: GovernanceEvent[] = [];
    const emitted: EmfOutput[] = [];
    const { logger, metrics } = createObservability({
      logLevel: "SILENT",
      metricsSink: (emf) => emitted.push(emf),
    });
    const handle = createGovernanceStreamHandler({
      projector: {
        apply: async (event: GovernanceEvent) => {
          applied.push(event);
          return "APPLIED";
        },
      } as never,
      logger,
      metrics,
    });

    const response = await handle({
      Records: [
        streamRecord("1", rejection({ message_id: "m-nul", message_type: "\u0000" })),
        streamRecord("2", rejection({ message_id: "m-ok" })),
      ],
    });

    expect(response).toEqual({ batchItemFailures: [] });
    expect(applied.map((event) => event.key)).toEqual([`rejection:${TASK}#${AT}#m-ok`]);
    const counted = emitted.map(
      (emf) => (emf as unknown as Record<string, unknown>)[PROJECTOR_METRICS.malformed],
    );
    expect(counted).toContain(1);
  });
});
