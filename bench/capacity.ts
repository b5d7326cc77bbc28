import type { AttributeValue, ConsumedCapacity } from "@aws-sdk/client-dynamodb";

/** Where capacity is charged: the base table or one GSI by name. */
export type Target = "table" | (string & {});

/** Read and write units charged to one target. */
export interface Units {
  rcu: number;
  wcu: number;
}

export type UnitsByTarget = Record<Target, Units>;

const WRITE_UNIT_BYTES = 1024;
const READ_UNIT_BYTES = 4096;

/** Read multipliers per 4 KB: eventually consistent, strongly consistent, transactional. */
export const READ_FACTOR = { eventual: 0.5, strong: 1, transactional: 2 } as const;
export type ReadMode = keyof typeof READ_FACTOR;

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * DynamoDB's documented size of a number: about one byte per two significant digits plus one.
 * Leading and trailing zeroes, sign and decimal point do not count.
 */
function numberSize(text: string): number {
  const digits = text
    .replace(/^[-+]/, "")
    .replace(/[eE].*$/, "")
    .replace(".", "");
  const significant = digits.replace(/^0+/, "").replace(/0+$/, "");
  return Math.ceil(Math.max(significant.length, 1) / 2) + 1;
}

/** Size of one attribute value per DynamoDB's item-size rules. */
export function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  // Lists and maps: 3 bytes of overhead, plus 1 byte per element (and the key name for maps).
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + valueSize(v) + 1, 0);
  if (value.M !== undefined) {
    return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + utf8(k) + valueSize(v) + 1, 0);
  }
  throw new Error(`Unsupported attribute value ${JSON.stringify(value)}`);
}

/** Item size: the UTF-8 length of every attribute name plus the size of its value. */
export function itemSize(item: Record<string, AttributeValue> | undefined): number {
  if (!item) return 0;
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueSize(value), 0);
}

/** One line of a theoretical minimum: what is charged, where, and why. */
export interface Charge {
  target: Target;
  kind: "read" | "write";
  units: number;
  what: string;
}

/** Reading one item (or a missing one, which still costs the minimum unit). */
export function readCharge(target: Target, bytes: number, mode: ReadMode, what: string): Charge {
  return {
    target,
    kind: "read",
    units: Math.max(1, Math.ceil(bytes / READ_UNIT_BYTES)) * READ_FACTOR[mode],
    what: `${what} (${bytes} B, ${mode})`,
  };
}

/** A Query is charged on the sum of the sizes of the items it reads, rounded up once. */
export function queryCharge(target: Target, sizes: number[], mode: ReadMode, what: string): Charge {
  const total = sizes.reduce((a, b) => a + b, 0);
  return {
    target,
    kind: "read",
    units: Math.max(1, Math.ceil(total / READ_UNIT_BYTES)) * READ_FACTOR[mode],
    what: `${what} (${sizes.length} items, ${total} B, ${mode})`,
  };
}

/**
 * Writing one item (put, update or delete). An overwrite or update is charged on the larger of the
 * old and new item; a delete on the old item. Transactional writes cost twice.
 */
export function writeCharge(target: Target, bytes: number, transactional: boolean, what: string): Charge {
  return {
    target,
    kind: "write",
    units: Math.max(1, Math.ceil(bytes / WRITE_UNIT_BYTES)) * (transactional ? 2 : 1),
    what: `${what} (${bytes} B${transactional ? ", transactional" : ""})`,
  };
}

export function emptyUnits(): Units {
  return { rcu: 0, wcu: 0 };
}

function add(into: UnitsByTarget, target: Target, kind: "read" | "write", units: number): void {
  const slot = into[target] ?? emptyUnits();
  if (kind === "read") slot.rcu += units;
  else slot.wcu += units;
  into[target] = slot;
}

export function sumCharges(charges: Charge[]): UnitsByTarget {
  const result: UnitsByTarget = { table: emptyUnits() };
  for (const c of charges) add(result, c.target, c.kind, c.units);
  return result;
}

/**
 * Folds the `ConsumedCapacity` of one response into per-target units. AWS reports
 * Read/WriteCapacityUnits beside CapacityUnits for some operations; when it does not (DynamoDB Local
 * never does), the command decides whether the units were reads or writes.
 */
export function addConsumed(
  into: UnitsByTarget,
  consumed: ConsumedCapacity,
  defaultKind: "read" | "write",
): void {
  const fold = (
    target: Target,
    c: { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number } | undefined,
  ) => {
    if (!c) return;
    if (c.ReadCapacityUnits !== undefined || c.WriteCapacityUnits !== undefined) {
      add(into, target, "read", c.ReadCapacityUnits ?? 0);
      add(into, target, "write", c.WriteCapacityUnits ?? 0);
    } else {
      add(into, target, defaultKind, c.CapacityUnits ?? 0);
    }
  };
  if (consumed.Table) fold("table", consumed.Table);
  // With ReturnConsumedCapacity=TOTAL only the aggregate exists; charge it to the table.
  else fold("table", consumed);
  for (const [name, c] of Object.entries(consumed.GlobalSecondaryIndexes ?? {})) fold(name, c);
  for (const [name, c] of Object.entries(consumed.LocalSecondaryIndexes ?? {})) fold(name, c);
}
