import { AsyncLocalStorage } from "node:async_hooks";
import type { ConsumedCapacity, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { addConsumed, type UnitsByTarget } from "./capacity.js";

/** Commands whose input accepts `ReturnConsumedCapacity`, and whether their units are reads. */
const CAPACITY_COMMANDS: Record<string, "read" | "write"> = {
  GetItem: "read",
  Query: "read",
  Scan: "read",
  BatchGetItem: "read",
  TransactGetItems: "read",
  PutItem: "write",
  UpdateItem: "write",
  DeleteItem: "write",
  BatchWriteItem: "write",
  TransactWriteItems: "write",
};

/** One DynamoDB request as the repositories issued it (SDK retries are folded into `attempts`). */
export interface CallRecord {
  /** Operation name without the `Command` suffix, e.g. `TransactWriteItems`. */
  command: string;
  /** Short description of the request shape, e.g. `strong`, `GSI1,L25`, `1U 3P 1D`. */
  detail: string;
  ok: boolean;
  /** Error name when the request failed (a cancelled transaction is a `TransactionCanceledException`). */
  error?: string;
  consumed: ConsumedCapacity[];
  /** HTTP attempts the SDK made for this call (its own retries). */
  attempts: number;
  /** Items read before any filter (Query/Scan). */
  scannedCount?: number;
  /** The request as the caller built it (document form for DocumentClient commands); not copied. */
  input: Record<string, unknown>;
}

type Input = Record<string, unknown> & {
  ConsistentRead?: boolean;
  IndexName?: string;
  Limit?: number;
  TransactItems?: Array<Record<string, unknown>>;
  RequestItems?: Record<string, unknown[]>;
};

function describe(command: string, input: Input): string {
  switch (command) {
    case "GetItem":
      return input.ConsistentRead ? "strong" : "eventual";
    case "Query":
    case "Scan":
      return [
        input.IndexName ?? "table",
        input.ConsistentRead ? "strong" : "",
        input.Limit ? `L${input.Limit}` : "",
      ]
        .filter(Boolean)
        .join(",");
    case "TransactWriteItems":
    case "TransactGetItems": {
      // Count the actions by kind: `1U 2P 2D` = one Update, two Puts, two Deletes.
      const kinds = new Map<string, number>();
      for (const action of input.TransactItems ?? []) {
        const kind = (Object.keys(action)[0] ?? "?").replace("ConditionCheck", "C").slice(0, 1);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
      return [...kinds].map(([k, n]) => `${n}${k}`).join(" ");
    }
    case "BatchWriteItem":
    case "BatchGetItem":
      return `${Object.values(input.RequestItems ?? {}).reduce((n, list) => n + list.length, 0)}`;
    default:
      return "";
  }
}

/**
 * Records every request sent through a DynamoDB client. Installed on the low-level client; the
 * DocumentClient that ElectroDB uses shares that client's middleware stack, so its commands pass
 * through here too (the input is still in document form at the `initialize` step, which does not
 * matter for the fields read or injected here).
 *
 * Calls are attributed to the innermost {@link measure} through AsyncLocalStorage, so a measurement
 * sees exactly the requests its own code made even with other work in flight.
 */
export class CallRecorder {
  private readonly scope = new AsyncLocalStorage<CallRecord[]>();
  /** Requests per operation over the whole run, measured or not. */
  readonly totals = new Map<string, number>();

  get scans(): number {
    return this.totals.get("Scan") ?? 0;
  }

  install(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = (context.commandName ?? "Unknown").replace(/Command$/, "");
        this.totals.set(command, (this.totals.get(command) ?? 0) + 1);
        const kind = CAPACITY_COMMANDS[command];
        const input = args.input as Input;
        // A copy: the caller's params object (built by ElectroDB) is left untouched.
        const sent = kind ? { ...input, ReturnConsumedCapacity: "INDEXES" } : input;
        const record: CallRecord = {
          command,
          detail: describe(command, input),
          ok: false,
          consumed: [],
          attempts: 0,
          input,
        };
        this.scope.getStore()?.push(record);
        try {
          const result = await next({ ...args, input: sent as typeof args.input });
          const output = result.output as {
            ConsumedCapacity?: ConsumedCapacity | ConsumedCapacity[];
            ScannedCount?: number;
            $metadata?: { attempts?: number };
          };
          record.ok = true;
          record.attempts = output.$metadata?.attempts ?? 1;
          // Single-item operations and Query return an object; transactions and batches an array.
          const consumed = output.ConsumedCapacity;
          record.consumed = consumed === undefined ? [] : Array.isArray(consumed) ? consumed : [consumed];
          if (output.ScannedCount !== undefined) record.scannedCount = output.ScannedCount;
          return result;
        } catch (error) {
          const failure = error as { name?: string; $metadata?: { attempts?: number } };
          record.error = failure.name ?? "Error";
          record.attempts = failure.$metadata?.attempts ?? 1;
          throw error;
        }
      },
      { step: "initialize", name: "benchCallRecorder", override: true },
    );
  }

  /** Runs `fn`, returning what it returned, the requests it made and its wall time. */
  async measure<T>(fn: () => Promise<T>): Promise<{ result: T; calls: CallRecord[]; ms: number }> {
    const calls: CallRecord[] = [];
    const started = performance.now();
    const result = await this.scope.run(calls, fn);
    return { result, calls, ms: performance.now() - started };
  }
}

/**
 * Records the operation of every request sent through an SQS client (`SendMessageBatch`,
 * `ReceiveMessage`, ...), attributed like {@link CallRecorder} to the innermost {@link measure} of
 * this recorder, so SQS calls are counted beside the DynamoDB ones without mixing into them.
 */
export class SqsCallRecorder {
  private readonly scope = new AsyncLocalStorage<string[]>();

  install(client: SQSClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        this.scope.getStore()?.push((context.commandName ?? "Unknown").replace(/Command$/, ""));
        return next(args);
      },
      { step: "initialize", name: "benchSqsCallRecorder", override: true },
    );
  }

  /** Runs `fn`, returning what it returned and the operations of the SQS requests it made. */
  async measure<T>(fn: () => Promise<T>): Promise<{ result: T; calls: string[] }> {
    const calls: string[] = [];
    const result = await this.scope.run(calls, fn);
    return { result, calls };
  }
}

/** Capacity reported by DynamoDB for `calls`, per target. */
export function reportedUnits(calls: CallRecord[]): UnitsByTarget {
  const units: UnitsByTarget = { table: { rcu: 0, wcu: 0 } };
  for (const call of calls) {
    const kind = CAPACITY_COMMANDS[call.command] ?? "read";
    for (const consumed of call.consumed) addConsumed(units, consumed, kind);
  }
  return units;
}

/** `GetItem(strong) + TransactWriteItems(4P)`, collapsing repeats into `2×GetItem(strong)`. */
export function summarizeCalls(calls: CallRecord[]): string {
  const labels = calls.map((c) => `${c.command}${c.detail ? `(${c.detail})` : ""}${c.ok ? "" : "!"}`);
  const groups: Array<{ label: string; n: number }> = [];
  for (const label of labels) {
    const last = groups.at(-1);
    if (last?.label === label) last.n += 1;
    else groups.push({ label, n: 1 });
  }
  return groups.map(({ label, n }) => (n > 1 ? `${n}×${label}` : label)).join(" + ");
}
