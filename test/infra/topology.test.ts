import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DynamoDBRecord } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../infra/constructs/marketplace-function.js";
import { FUNCTION_ENV_CONTEXT_KEYS } from "../../infra/settings.js";
import {
  FUNCTIONS,
  functionById,
  invokeOnly,
  matchesStreamFilters,
  QUEUES,
  type QueueName,
  queueConsumer,
  schedules,
  streamConsumers,
  topologyProblems,
  UNDEPLOYED_HANDLERS,
  VISIBILITY_TIMEOUT_FACTOR,
  visibilityTimeoutSeconds,
} from "../../src/topology.js";

/** Every `*.handler.ts` under functions/, relative to the repository root. */
function handlerFiles(): string[] {
  const root = join(PROJECT_ROOT, "functions");
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(root, d.name))
        .filter((f) => f.endsWith(".handler.ts"))
        .map((f) => `functions/${d.name}/${f}`),
    );
}

function record(eventName: "INSERT" | "MODIFY" | "REMOVE", images: { New?: string; Old?: string }) {
  return {
    eventName,
    dynamodb: {
      ...(images.New ? { NewImage: { type: { S: images.New } } } : {}),
      ...(images.Old ? { OldImage: { type: { S: images.Old } } } : {}),
    },
  } as DynamoDBRecord;
}

describe("topology: the one declaration", () => {
  it("is consistent: grants match variables, every queue has one consumer", () => {
    expect(topologyProblems()).toEqual([]);
  });

  it("reports an inconsistent declaration", () => {
    const receiver = functionById("github-receiver");

    const problems = topologyProblems([{ ...receiver, environment: [] }, ...FUNCTIONS.slice(1)]);

    expect(problems).toEqual(
      expect.arrayContaining([
        "github-receiver reads githubWebhookSecret but lacks GITHUB_WEBHOOK_SECRET_ARN",
        "github-receiver sends to intake but lacks INTAKE_QUEUE_URL",
      ]),
    );
  });

  it("hands every function setting a context key can set to at least one function", () => {
    const used = new Set(FUNCTIONS.flatMap((fn) => fn.environment as readonly string[]));

    const unused = Object.keys(FUNCTION_ENV_CONTEXT_KEYS).filter((key) => !used.has(key));

    expect(unused).toEqual([]);
  });

  it("deploys every handler in functions/, except the ones listed with a reason", () => {
    const deployed = new Set(FUNCTIONS.map((f) => f.entry));

    const missing = handlerFiles().filter((file) => !deployed.has(file) && !(file in UNDEPLOYED_HANDLERS));

    expect(missing).toEqual([]);
  });

  it("points every function at a module that exports `handler`", () => {
    for (const fn of FUNCTIONS) {
      const path = join(PROJECT_ROOT, fn.entry);
      expect(existsSync(path), fn.entry).toBe(true);
      expect(readFileSync(path, "utf8"), fn.entry).toMatch(/export const handler\b/);
    }
  });

  it("sizes each queue's visibility timeout at six times its consumer's timeout or more", () => {
    for (const queue of Object.keys(QUEUES) as QueueName[]) {
      const { fn } = queueConsumer(queue);
      expect(visibilityTimeoutSeconds(queue)).toBeGreaterThanOrEqual(
        VISIBILITY_TIMEOUT_FACTOR * fn.timeoutSeconds,
      );
    }
  });

  it("keeps the table stream at two readers, the most DynamoDB Streams serves without throttling", () => {
    expect(streamConsumers().map(({ fn }) => fn.id)).toEqual(["task-stream", "projector"]);
  });

  it("declares the schedules: awards every minute, escrows hourly, probes every 5 minutes, audit daily", () => {
    expect(Object.fromEntries(schedules().map(({ fn, trigger }) => [fn.id, trigger.expression]))).toEqual({
      "award-sweeper": "rate(1 minute)",
      "escrow-sweeper": "rate(1 hour)",
      "health-prober": "rate(5 minutes)",
      "audit-verify": "rate(1 day)",
    });
  });
});

describe("topology: governance failures", () => {
  it("retries the projector's transient failures for minutes, not a day, and sets permanent ones aside", () => {
    const { trigger, grants, environment } = functionById("projector");
    if (trigger.kind !== "stream") throw new Error("the projector is a stream consumer");

    expect(trigger.maxRecordAgeSeconds).toBe(900);
    expect(trigger.reportBatchItemFailures).toBe(true);
    expect(trigger.onFailure).toBe("queue");
    expect(grants).toContainEqual({ kind: "streamFailures", of: "projector", access: "send" });
    expect(environment).toContain("PROJECTOR_FAILURES_QUEUE_URL");
  });

  it("declares the replayer as invoke-only, consuming the projector's failure queue", () => {
    const replay = functionById("governance-replay");

    expect(invokeOnly().map(({ fn }) => fn.id)).toEqual(["governance-replay"]);
    expect(replay.grants).toContainEqual({ kind: "streamFailures", of: "projector", access: "consume" });
    expect(replay.grants).toContainEqual({ kind: "tableStream" });
    expect(replay.postgres).toBe(true);
  });

  it("reports a failure-queue grant without its variable or on a function that is no stream consumer", () => {
    const replay = functionById("governance-replay");
    const broken = {
      ...replay,
      environment: replay.environment.filter((key) => key !== "PROJECTOR_FAILURES_QUEUE_URL"),
      grants: [...replay.grants, { kind: "streamFailures", of: "rest-api", access: "send" } as const],
    };

    const problems = topologyProblems(FUNCTIONS.map((fn) => (fn.id === replay.id ? broken : fn)));

    expect(problems).toEqual([
      "governance-replay uses projector's failure queue but lacks PROJECTOR_FAILURES_QUEUE_URL",
      "governance-replay uses rest-api's failure queue but lacks PROJECTOR_FAILURES_QUEUE_URL",
      "governance-replay uses the failure queue of rest-api, which is not a stream consumer",
    ]);
  });
});

describe("matchesStreamFilters: Lambda's filter criteria, locally", () => {
  const filtersOf = (id: string) => {
    const { trigger } = functionById(id);
    if (trigger.kind !== "stream") throw new Error(`${id} is not a stream consumer`);
    return trigger.filters;
  };

  it("passes only the INSERT of a TASK item to the task stream enqueuer", () => {
    const filters = filtersOf("task-stream");

    expect(matchesStreamFilters(filters, record("INSERT", { New: "TASK" }))).toBe(true);
    expect(matchesStreamFilters(filters, record("MODIFY", { New: "TASK", Old: "TASK" }))).toBe(false);
    expect(matchesStreamFilters(filters, record("INSERT", { New: "BID_WINDOW" }))).toBe(false);
    expect(matchesStreamFilters(filters, record("INSERT", {}))).toBe(false);
  });

  it("passes the projector every change of a followed item, deletes included", () => {
    const filters = filtersOf("projector");

    expect(matchesStreamFilters(filters, record("INSERT", { New: "AGENT_PROFILE" }))).toBe(true);
    expect(matchesStreamFilters(filters, record("MODIFY", { New: "AWARD", Old: "AWARD" }))).toBe(true);
    expect(matchesStreamFilters(filters, record("REMOVE", { Old: "BID" }))).toBe(true);
    expect(matchesStreamFilters(filters, record("INSERT", { New: "TASK" }))).toBe(false);
    expect(matchesStreamFilters(filters, record("REMOVE", { Old: "WEBHOOK_DELIVERY" }))).toBe(false);
  });

  it("passes everything when there is no filter", () => {
    expect(matchesStreamFilters([], record("REMOVE", {}))).toBe(true);
  });
});
