import { GetItemCommand } from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { createEndpointCircuitRepository } from "../../src/adapters/dynamo/endpoint-circuit.repository.js";
import { plainTextSchema } from "../../src/domain/common.schema.js";
import type { EndpointCircuit } from "../../src/ports/endpoint-circuit.js";
import { type TestTable, useTestTable } from "../helpers/dynamo.js";

/**
 * The per-agent delivery circuit breaker on DynamoDB Local. Every state is proven by reading the
 * `AGENT#<id>` / `CIRCUIT` item back without ElectroDB. The clock is injected, so cool-downs and
 * trial claims pass without waiting.
 */

const T0 = Date.parse("2031-03-01T10:00:00.000Z");
const COOLDOWN = 300_000;
const TRIAL = 30_000;
const ENDPOINT = "https://agent.example/bids";
const OTHER_ENDPOINT = "https://agent.example/v2/bids";
const iso = (ms: number) => new Date(ms).toISOString();

describe("endpoint circuit (DynamoDB Local)", () => {
  let table: TestTable;
  let counter = 0;

  beforeAll(async () => {
    table = await useTestTable();
  });

  /** A repository with its own clock (starting at T0) and a fresh agent id. */
  function circuitFor(threshold = 3) {
    const clock = { ms: T0 };
    const circuit = createEndpointCircuitRepository({
      service: table.service,
      failureThreshold: threshold,
      cooldownMs: COOLDOWN,
      trialMs: TRIAL,
      now: () => new Date(clock.ms),
    });
    counter += 1;
    return { circuit, clock, agentId: `circuit-agent-${counter}` };
  }

  async function rawItem(agentId: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await table.raw.send(
      new GetItemCommand({
        TableName: table.tableName,
        Key: { PK: { S: `AGENT#${agentId}` }, SK: { S: "CIRCUIT" } },
        ConsistentRead: true,
      }),
    );
    return Item ? unmarshall(Item) : undefined;
  }

  async function failTimes(circuit: EndpointCircuit, agentId: string, n: number, endpoint = ENDPOINT) {
    const transitions = [];
    for (let i = 1; i <= n; i++) {
      transitions.push(await circuit.record(agentId, endpoint, { ok: false, error: `HTTP 503 (#${i})` }));
    }
    return transitions;
  }

  it("admits everything while no item exists, and a success then writes nothing", async () => {
    const { circuit, agentId } = circuitFor();
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: true, trial: false });
    expect(await circuit.record(agentId, ENDPOINT, { ok: true })).toEqual({
      change: "none",
      consecutive_failures: 0,
    });
    expect(await rawItem(agentId)).toBeUndefined();
  });

  it("opens after K consecutive failures and stores the documented item", async () => {
    const { circuit, clock, agentId } = circuitFor(3);
    const transitions = await failTimes(circuit, agentId, 2);
    expect(transitions).toEqual([
      { change: "none", consecutive_failures: 1 },
      { change: "none", consecutive_failures: 2 },
    ]);
    expect(await rawItem(agentId)).toMatchObject({ state: "CLOSED", consecutive_failures: 2 });
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: true, trial: false });

    clock.ms += 1_000;
    expect(await circuit.record(agentId, ENDPOINT, { ok: false, error: "connect ECONNREFUSED" })).toEqual({
      change: "opened",
      consecutive_failures: 3,
    });
    const item = await rawItem(agentId);
    expect(item).toEqual({
      PK: `AGENT#${agentId}`,
      SK: "CIRCUIT",
      type: "ENDPOINT_CIRCUIT",
      agent_id: agentId,
      endpoint: ENDPOINT,
      state: "OPEN",
      consecutive_failures: 3,
      opened_at: iso(T0 + 1_000),
      open_until: iso(T0 + 1_000 + COOLDOWN),
      last_error: "connect ECONNREFUSED",
      last_failure_at: iso(T0 + 1_000),
      updated_at: iso(T0 + 1_000),
      __edb_e__: "endpoint_circuit",
      __edb_v__: "1",
    });
  });

  it("a success before the threshold resets the count to 0 (one write), a second success writes nothing", async () => {
    const { circuit, clock, agentId } = circuitFor(3);
    await failTimes(circuit, agentId, 2);
    clock.ms += 5_000;
    expect(await circuit.record(agentId, ENDPOINT, { ok: true })).toEqual({
      change: "none",
      consecutive_failures: 0,
    });
    const reset = await rawItem(agentId);
    expect(reset).toMatchObject({ state: "CLOSED", consecutive_failures: 0, updated_at: iso(T0 + 5_000) });
    clock.ms += 5_000;
    await circuit.record(agentId, ENDPOINT, { ok: true });
    expect((await rawItem(agentId))?.updated_at).toBe(iso(T0 + 5_000));
    // The count starts again from 0: two more failures do not open it.
    expect((await failTimes(circuit, agentId, 2)).map((t) => t.change)).toEqual(["none", "none"]);
  });

  it("refuses during the cool-down with the CIRCUIT_OPEN reason, and a failure in flight does not extend it", async () => {
    const { circuit, clock, agentId } = circuitFor(3);
    await failTimes(circuit, agentId, 3);
    clock.ms += COOLDOWN - 1;
    expect(await circuit.admit(agentId, ENDPOINT)).toEqual({
      allowed: false,
      reason: `CIRCUIT_OPEN: 3 consecutive failures; retried after ${iso(T0 + COOLDOWN)}`,
    });
    // A delivery admitted before it opened fails now: counted, but the cool-down stays.
    expect(await circuit.record(agentId, ENDPOINT, { ok: false, error: "late" })).toEqual({
      change: "none",
      consecutive_failures: 4,
    });
    expect(await rawItem(agentId)).toMatchObject({ state: "OPEN", open_until: iso(T0 + COOLDOWN) });
  });

  it("after the cool-down admits exactly one trial among parallel admits", async () => {
    const { circuit, clock, agentId } = circuitFor(3);
    await failTimes(circuit, agentId, 3);
    clock.ms = T0 + COOLDOWN;
    const admissions = await Promise.all(Array.from({ length: 12 }, () => circuit.admit(agentId, ENDPOINT)));
    const trials = admissions.filter((a) => a.allowed);
    expect(trials).toMatchObject([{ allowed: true, trial: true }]);
    for (const refused of admissions.filter((a) => !a.allowed)) {
      expect(refused).toEqual({
        allowed: false,
        reason: `CIRCUIT_OPEN: 3 consecutive failures; trial in progress, retried after ${iso(T0 + COOLDOWN + TRIAL)}`,
      });
    }
    expect(await rawItem(agentId)).toMatchObject({
      state: "OPEN",
      trial_until: iso(T0 + COOLDOWN + TRIAL),
    });

    // A trial that never reports back loses its claim when it expires: the next admit is the trial.
    clock.ms = T0 + COOLDOWN + TRIAL - 1;
    expect((await circuit.admit(agentId, ENDPOINT)).allowed).toBe(false);
    clock.ms = T0 + COOLDOWN + TRIAL;
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: true, trial: true });
    expect(await rawItem(agentId)).toMatchObject({ trial_until: iso(T0 + COOLDOWN + 2 * TRIAL) });
  });

  it("closes on the trial's success", async () => {
    const { circuit, clock, agentId } = circuitFor(3);
    await failTimes(circuit, agentId, 3);
    clock.ms = T0 + COOLDOWN + 10;
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: true, trial: true });
    clock.ms += 200;
    expect(await circuit.record(agentId, ENDPOINT, { ok: true })).toEqual({
      change: "closed",
      consecutive_failures: 0,
    });
    const item = await rawItem(agentId);
    expect(item).toMatchObject({
      state: "CLOSED",
      consecutive_failures: 0,
      endpoint: ENDPOINT,
      opened_at: iso(T0),
      updated_at: iso(T0 + COOLDOWN + 210),
    });
    expect(item).not.toHaveProperty("open_until");
    expect(item).not.toHaveProperty("trial_until");
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: true, trial: false });
  });

  it("re-opens for another cool-down when the trial fails", async () => {
    const { circuit, clock, agentId } = circuitFor(3);
    await failTimes(circuit, agentId, 3);
    clock.ms = T0 + COOLDOWN + 10;
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: true, trial: true });
    clock.ms += 3_000;
    const failedAt = clock.ms;
    expect(await circuit.record(agentId, ENDPOINT, { ok: false, error: "HTTP 500" })).toEqual({
      change: "opened",
      consecutive_failures: 4,
    });
    const item = await rawItem(agentId);
    expect(item).toMatchObject({
      state: "OPEN",
      consecutive_failures: 4,
      opened_at: iso(failedAt),
      open_until: iso(failedAt + COOLDOWN),
      last_error: "HTTP 500",
    });
    expect(item).not.toHaveProperty("trial_until");
    expect(await circuit.admit(agentId, ENDPOINT)).toEqual({
      allowed: false,
      reason: `CIRCUIT_OPEN: 4 consecutive failures; retried after ${iso(failedAt + COOLDOWN)}`,
    });
  });

  it("a different endpoint starts closed, and its first result starts the item afresh", async () => {
    const { circuit, clock, agentId } = circuitFor(3);
    await failTimes(circuit, agentId, 3);
    clock.ms += 1_000;
    expect(await circuit.admit(agentId, OTHER_ENDPOINT)).toMatchObject({ allowed: true, trial: false });
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: false });

    expect(await circuit.record(agentId, OTHER_ENDPOINT, { ok: false, error: "timeout" })).toEqual({
      change: "none",
      consecutive_failures: 1,
    });
    const item = await rawItem(agentId);
    expect(item).toMatchObject({
      endpoint: OTHER_ENDPOINT,
      state: "CLOSED",
      consecutive_failures: 1,
      last_error: "timeout",
    });
    expect(item).not.toHaveProperty("open_until");
    expect(item).not.toHaveProperty("opened_at");
    // The old endpoint is no longer what the item is about: it starts closed too.
    expect(await circuit.admit(agentId, ENDPOINT)).toMatchObject({ allowed: true, trial: false });

    // A success on a new endpoint resets an open circuit of the old one.
    const other = circuitFor(2);
    await failTimes(other.circuit, other.agentId, 2);
    expect(await other.circuit.record(other.agentId, OTHER_ENDPOINT, { ok: true })).toEqual({
      change: "closed",
      consecutive_failures: 0,
    });
    expect(await rawItem(other.agentId)).toMatchObject({
      endpoint: OTHER_ENDPOINT,
      state: "CLOSED",
      consecutive_failures: 0,
    });
  });

  it("counts 20 parallel failures as 20 and opens exactly once", async () => {
    const { circuit, agentId } = circuitFor(3);
    const transitions = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        circuit.record(agentId, ENDPOINT, { ok: false, error: `parallel failure ${i}` }),
      ),
    );
    expect(transitions.filter((t) => t.change === "opened")).toHaveLength(1);
    expect(transitions.map((t) => t.consecutive_failures).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(await rawItem(agentId)).toMatchObject({ state: "OPEN", consecutive_failures: 20 });
  });

  it("counts parallel failures for a changed endpoint from 1, losing none", async () => {
    const { circuit, agentId } = circuitFor(100);
    await failTimes(circuit, agentId, 5);
    await Promise.all(
      Array.from({ length: 10 }, () => circuit.record(agentId, OTHER_ENDPOINT, { ok: false, error: "x" })),
    );
    expect(await rawItem(agentId)).toMatchObject({ endpoint: OTHER_ENDPOINT, consecutive_failures: 10 });
  });

  it("stores hostile error text safely: control characters replaced, lone surrogates fixed, cut to 512", async () => {
    const { circuit, agentId } = circuitFor(3);
    const hostile = `bad\u0000gate\u0001way\r\n\t\u007f\u0085\u009b[31m end \ud800 half ${"x".repeat(2_000)}`;
    expect(await circuit.record(agentId, ENDPOINT, { ok: false, error: hostile })).toEqual({
      change: "none",
      consecutive_failures: 1,
    });
    const stored = (await rawItem(agentId))?.last_error as string;
    const prefix = "bad?gate?way??????[31m end \ufffd half xxx";
    expect(stored.slice(0, prefix.length)).toBe(prefix);
    expect(stored).toHaveLength(512);
    expect(stored.endsWith("…")).toBe(true);
    // What the governance projector refuses (any control character) is not there.
    expect(plainTextSchema.safeParse(stored).success).toBe(true);

    // A cut never splits a surrogate pair, and an empty error still says something.
    const emoji = `${"y".repeat(510)}😀😀`;
    await circuit.record(agentId, ENDPOINT, { ok: false, error: emoji });
    const cut = (await rawItem(agentId))?.last_error as string;
    expect(cut).toBe(`${"y".repeat(510)}…`);
    await circuit.record(agentId, ENDPOINT, { ok: false, error: "" });
    expect(await rawItem(agentId)).toMatchObject({
      state: "OPEN",
      consecutive_failures: 3,
      last_error: "(no error message)",
    });

    // An endpoint DynamoDB could not store as given still gets a circuit, found again by the same name.
    const odd = circuitFor(1);
    const broken = `https://agent.example/\ud800\u0000`;
    expect(await odd.circuit.record(odd.agentId, broken, { ok: false, error: "x" })).toMatchObject({
      change: "opened",
    });
    expect(await odd.circuit.admit(odd.agentId, broken)).toMatchObject({ allowed: false });
    expect(await rawItem(odd.agentId)).toMatchObject({ endpoint: "https://agent.example/\ufffd\u0000" });
  });
});
