import * as z from "zod";
import { plainTextSchema, replaceControlCharacters } from "../common.schema.js";
import type { AgentSnapshot } from "./governance.types.js";

/**
 * What governance learns from the marketplace table's stream. Each event carries `key`, its identity
 * in the marketplace (not the stream record's id), so applying it is idempotent however often the
 * record is delivered, and a replayed stream converges to the same Postgres state.
 */
export type GovernanceEvent =
  | {
      kind: "AGENT";
      /** `agent:<id>:v<profile version>`: every profile change bumps the version. */
      key: string;
      snapshot: AgentSnapshot;
      /** The profile was created by this change. */
      registered: boolean;
      /** Set when this change flipped the kill switch. */
      killSwitch?: { active: boolean; actor: string; reason: string | null };
      /** Registration fields this change altered (empty for a performance-only change). */
      changed: string[];
      /** Who made the registration change (`operator:<name>` / `agent:<id>`), when the profile says. */
      actor: string | null;
      /** Set when the payout wallet changed: audited, and it applies to new escrows only. */
      wallet?: { from: string | null; to: string | null };
      /** Trust as the profile holds it now (null before governance first scored the agent). */
      profileTrust: { trust_score: number | null; audit_level: string | null };
      at: string;
    }
  | {
      kind: "BID_ACCEPTED";
      key: string;
      task_id: string;
      agent_id: string;
      bid_amount: number;
      estimated_completion_sec: number | null;
      at: string;
    }
  | { kind: "BID_DECLINED"; key: string; task_id: string; agent_id: string; at: string }
  | {
      kind: "BID_REJECTED";
      key: string;
      task_id: string;
      /** As claimed by the refused message; not verified. */
      agent_id: string | null;
      message_type: string | null;
      reason: string;
      at: string;
    }
  | {
      kind: "AWARD";
      key: string;
      task_id: string;
      agent_id: string;
      bid_amount: number;
      status: "AWARDED" | "PENDING_APPROVAL";
      approval_reason: string | null;
      worker_wallet: string | null;
      awarded_at: string;
      at: string;
    }
  | {
      kind: "COST_REPORTED";
      key: string;
      task_id: string;
      agent_id: string;
      actual_cost: number;
      at: string;
    }
  | {
      kind: "LEDGER_OUTCOME";
      key: string;
      task_id: string;
      agent_id: string;
      status: "SUCCESS" | "FAILURE" | "HUMAN_INTERVENTION";
      quality_score: number;
      bid_amount: number;
      actual_cost: number;
      completion_timestamp: string;
      supersedes: string | null;
      at: string;
    }
  | {
      /** A delivery circuit breaker (`AGENT#<id>` / `CIRCUIT`) changed state. */
      kind: "ENDPOINT_CIRCUIT";
      /**
       * `circuit:<agent_id>#<opened_at>#<change>`: an opening is named by when it happened, and a
       * close by the opening it ends.
       */
      key: string;
      agent_id: string;
      /** The endpoint the circuit is about now (control characters replaced by `?`). */
      endpoint: string;
      /**
       * `opened`: CLOSED → OPEN (the endpoint is down); `reopened`: the half-open trial failed, OPEN
       * for another cool-down; `closed`: OPEN → CLOSED.
       */
      change: "opened" | "reopened" | "closed";
      /**
       * For `closed`: whether a delivery succeeded (the endpoint is back). False when the circuit
       * closed because the agent's endpoint changed and nothing has been delivered to the new one.
       */
      delivered: boolean;
      /** The endpoint before, when this change moved the circuit to another one; else null. */
      previous_endpoint: string | null;
      consecutive_failures: number;
      /** While open: no delivery is tried before this instant. */
      open_until: string | null;
      last_error: string | null;
      at: string;
    };

/** A stream record with its images already unmarshalled to plain objects. */
export interface StreamChange {
  eventName: "INSERT" | "MODIFY" | "REMOVE";
  newImage?: Record<string, unknown>;
  oldImage?: Record<string, unknown>;
  /** When DynamoDB made the change (ISO), for events whose item has no timestamp of its own. */
  approximateAt: string;
}

/**
 * Text as Postgres gets it: no control characters (U+0000 cannot be stored in `text` at all, and the
 * others have no business in an audit row). The edges refuse them; an image that still carries one
 * is malformed, so it is skipped and counted rather than failing its insert and blocking the stream.
 */
const text = plainTextSchema;
const str = text.min(1);
const num = z.number().finite();

const profileImage = z.object({
  type: z.literal("AGENT_PROFILE"),
  agent_id: str,
  bidding_endpoint: str,
  endpoint_kind: z.enum(["sqs", "https"]),
  status: z.enum(["active", "suspended"]),
  kill_switch_active: z.boolean(),
  kill_switch_changed_by: text.optional(),
  kill_switch_reason: text.optional(),
  cost_model: text.optional(),
  wallet_address: text.optional(),
  updated_by: text.optional(),
  performance_totals: z.object({ outcomes: num, successes: num, quality_micros: num }),
  // A String Set: unmarshalled to a Set (as an array when it comes from JSON).
  capabilities: z
    .union([z.array(text), z.set(text)])
    .transform((value) => [...value].sort())
    .optional(),
  trust_score: num.optional(),
  audit_level: text.optional(),
  version: z.number().int().positive(),
  updated_at: str,
});

const bidImage = z.object({
  type: z.literal("BID"),
  task_id: str,
  agent_id: str,
  status: z.enum(["INVITED", "ACCEPTED", "DECLINED"]),
  bid_amount: num.optional(),
  estimated_completion_sec: num.optional(),
  answered_at: text.optional(),
  sent_at: text.optional(),
});

const rejectionImage = z.object({
  type: z.literal("BID_REJECTION"),
  task_id: str,
  received_at: str,
  message_id: str,
  agent_id: text.optional(),
  message_type: text.optional(),
  reason: str,
});

const awardImage = z.object({
  type: z.literal("AWARD"),
  task_id: str,
  agent_id: str,
  bid_amount: num,
  status: z.enum(["AWARDED", "PENDING_APPROVAL"]),
  awarded_at: str,
  actual_cost: num.optional(),
  approval_reason: text.optional(),
  worker_wallet: text.optional(),
});

const ledgerImage = z.object({
  type: z.literal("TASK_LEDGER_ENTRY"),
  task_id: str,
  winning_agent_id: str,
  bid_amount: num,
  actual_cost: num,
  status: z.enum(["SUCCESS", "FAILURE", "HUMAN_INTERVENTION"]),
  quality_score: num,
  completion_timestamp: str,
  supersedes: text.optional(),
  recorded_at: str,
});

/**
 * Free text governance keeps rather than refuses (an endpoint as the circuit names it, a delivery
 * error an endpoint caused): each run of control characters becomes `?`. The circuit repository
 * already replaces them before it writes; this holds for items written any other way.
 */
const freeText = z.string().transform((value) => replaceControlCharacters(value, "?"));

const circuitImage = z.object({
  type: z.literal("ENDPOINT_CIRCUIT"),
  agent_id: str,
  endpoint: freeText,
  state: z.enum(["CLOSED", "OPEN"]),
  consecutive_failures: z.number().int().nonnegative(),
  opened_at: str.optional(),
  open_until: str.optional(),
  last_error: freeText.optional(),
  updated_at: str,
});

/** Item types governance follows; every other item (capability edges, deliveries...) is ignored. */
export const PROJECTED_ITEM_TYPES = [
  "AGENT_PROFILE",
  "BID",
  "BID_REJECTION",
  "AWARD",
  "TASK_LEDGER_ENTRY",
  "ENDPOINT_CIRCUIT",
] as const;

export class MalformedChangeError extends Error {
  override name = "MalformedChangeError";
}

function parse<T>(schema: z.ZodType<T>, image: Record<string, unknown>, what: string): T {
  const result = schema.safeParse(image);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(item)"}: ${i.message}`);
    throw new MalformedChangeError(`${what} image does not match the table design: ${problems.join("; ")}`);
  }
  return result.data;
}

const CONTROL_CHARACTERS = /\p{Cc}/gu;

/** `value` with every control character in its strings (and set, list and map members) replaced by `?`. */
function scrubbed(value: unknown): unknown {
  if (typeof value === "string") return value.replace(CONTROL_CHARACTERS, "?");
  if (value instanceof Set) return new Set([...value].map(scrubbed));
  if (Array.isArray(value)) return value.map(scrubbed);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, member]) => [key, scrubbed(member)]));
  }
  return value;
}

/**
 * The before image, which only feeds the diff. One stored before the edges refused control characters
 * is read with them replaced, so the change that cleans an item is still projected (as a change).
 */
function parseBefore<T>(schema: z.ZodType<T>, change: StreamChange, what: string): T | undefined {
  if (!change.oldImage) return undefined;
  return parse(schema, scrubbed(change.oldImage) as Record<string, unknown>, what);
}

function agentEvents(change: StreamChange, image: Record<string, unknown>): GovernanceEvent[] {
  const next = parse(profileImage, image, "agent profile");
  const before = parseBefore(profileImage, change, "agent profile");
  // A write that did not bump the version (governance writing trust back) changes nothing governance
  // does not already know.
  if (before && before.version === next.version) return [];
  const flipped = before ? before.kill_switch_active !== next.kill_switch_active : next.kill_switch_active;
  const snapshot: AgentSnapshot = {
    agent_id: next.agent_id,
    bidding_endpoint: next.bidding_endpoint,
    endpoint_kind: next.endpoint_kind,
    status: next.status,
    kill_switch_active: next.kill_switch_active,
    outcomes: next.performance_totals.outcomes,
    successes: next.performance_totals.successes,
    quality_micros: next.performance_totals.quality_micros,
    profile_version: next.version,
    updated_at: next.updated_at,
  };
  const changed: string[] = before
    ? (["bidding_endpoint", "endpoint_kind", "status", "cost_model", "wallet_address"] as const).filter(
        (field) => before[field] !== next[field],
      )
    : [];
  if (before && (before.capabilities ?? []).join() !== (next.capabilities ?? []).join()) {
    changed.push("capabilities");
  }
  return [
    {
      kind: "AGENT",
      key: `agent:${next.agent_id}:v${next.version}`,
      snapshot,
      registered: change.eventName === "INSERT",
      changed,
      actor: next.updated_by ?? null,
      ...(changed.includes("wallet_address")
        ? { wallet: { from: before?.wallet_address ?? null, to: next.wallet_address ?? null } }
        : {}),
      profileTrust: { trust_score: next.trust_score ?? null, audit_level: next.audit_level ?? null },
      ...(flipped
        ? {
            killSwitch: {
              active: next.kill_switch_active,
              actor: next.kill_switch_changed_by ?? "unknown",
              reason: next.kill_switch_reason ? next.kill_switch_reason : null,
            },
          }
        : {}),
      at: next.updated_at,
    },
  ];
}

function bidEvents(change: StreamChange, image: Record<string, unknown>): GovernanceEvent[] {
  const next = parse(bidImage, image, "bid");
  const before = parseBefore(bidImage, change, "bid");
  const answeredAt = next.sent_at ?? next.answered_at;
  // Only a new answer is news; notice bookkeeping on the same answer is not.
  if (!answeredAt) return [];
  if (before && before.status === next.status && (before.sent_at ?? before.answered_at) === answeredAt) {
    return [];
  }
  const base = {
    task_id: next.task_id,
    agent_id: next.agent_id,
    at: next.answered_at ?? change.approximateAt,
  };
  if (next.status === "ACCEPTED" && next.bid_amount !== undefined) {
    return [
      {
        kind: "BID_ACCEPTED",
        key: `bid:${next.task_id}#${next.agent_id}#${answeredAt}`,
        ...base,
        bid_amount: next.bid_amount,
        estimated_completion_sec: next.estimated_completion_sec ?? null,
      },
    ];
  }
  if (next.status === "DECLINED") {
    return [{ kind: "BID_DECLINED", key: `decline:${next.task_id}#${next.agent_id}#${answeredAt}`, ...base }];
  }
  return [];
}

function awardEvents(change: StreamChange, image: Record<string, unknown>): GovernanceEvent[] {
  const next = parse(awardImage, image, "award");
  const before = parseBefore(awardImage, change, "award");
  const events: GovernanceEvent[] = [];
  if (!before || before.status !== next.status || before.agent_id !== next.agent_id) {
    events.push({
      kind: "AWARD",
      key: `award:${next.task_id}#${next.agent_id}#${next.status}`,
      task_id: next.task_id,
      agent_id: next.agent_id,
      bid_amount: next.bid_amount,
      status: next.status,
      approval_reason: next.approval_reason ?? null,
      worker_wallet: next.worker_wallet ?? null,
      awarded_at: next.awarded_at,
      at: change.eventName === "INSERT" ? next.awarded_at : change.approximateAt,
    });
  }
  if (next.actual_cost !== undefined && before?.actual_cost !== next.actual_cost) {
    events.push({
      kind: "COST_REPORTED",
      key: `cost:${next.task_id}#${next.agent_id}#${next.actual_cost}`,
      task_id: next.task_id,
      agent_id: next.agent_id,
      actual_cost: next.actual_cost,
      at: change.approximateAt,
    });
  }
  return events;
}

/**
 * A circuit's state changes: opened, re-opened after a failed trial, closed. Counting failures and
 * claiming trials change nothing governance records.
 */
function circuitEvents(change: StreamChange, image: Record<string, unknown>): GovernanceEvent[] {
  const next = parse(circuitImage, image, "endpoint circuit");
  const before = parseBefore(circuitImage, change, "endpoint circuit");
  const wasOpen = before?.state === "OPEN";
  let kind: "opened" | "reopened" | "closed";
  let openedAt: string;
  if (next.state === "OPEN") {
    if (!next.opened_at) {
      throw new MalformedChangeError(
        "endpoint circuit image does not match the table design: opened_at: missing",
      );
    }
    if (!wasOpen) kind = "opened";
    else if (before.opened_at !== next.opened_at) kind = "reopened";
    else return [];
    openedAt = next.opened_at;
  } else if (wasOpen) {
    kind = "closed";
    openedAt = before.opened_at ?? next.opened_at ?? next.updated_at;
  } else {
    return [];
  }
  const moved = before !== undefined && before.endpoint !== next.endpoint;
  return [
    {
      kind: "ENDPOINT_CIRCUIT",
      key: `circuit:${next.agent_id}#${openedAt}#${kind}`,
      agent_id: next.agent_id,
      endpoint: next.endpoint,
      change: kind,
      delivered: kind === "closed" && next.consecutive_failures === 0,
      previous_endpoint: moved ? before.endpoint : null,
      consecutive_failures: next.consecutive_failures,
      open_until: next.state === "OPEN" ? (next.open_until ?? null) : null,
      last_error: next.last_error ?? null,
      at: kind === "closed" ? next.updated_at : openedAt,
    },
  ];
}

/**
 * Maps one table change to the governance events it carries (usually zero or one). Pure. Throws
 * {@link MalformedChangeError} when a followed item type does not have the documented shape; the
 * caller records that and moves on (retrying cannot fix it).
 */
export function governanceEventsOf(change: StreamChange): GovernanceEvent[] {
  // Deletions carry no governance facts: the table only deletes bookkeeping (bid windows, a
  // rejected pending award), and those decisions are audited where they are made.
  if (change.eventName === "REMOVE" || !change.newImage) return [];
  const image = change.newImage;
  switch (image.type) {
    case "AGENT_PROFILE":
      return agentEvents(change, image);
    case "BID":
      return bidEvents(change, image);
    case "BID_REJECTION": {
      if (change.eventName !== "INSERT") return [];
      const item = parse(rejectionImage, image, "bid rejection");
      return [
        {
          kind: "BID_REJECTED",
          key: `rejection:${item.task_id}#${item.received_at}#${item.message_id}`,
          task_id: item.task_id,
          agent_id: item.agent_id ?? null,
          message_type: item.message_type ?? null,
          reason: item.reason,
          at: item.received_at,
        },
      ];
    }
    case "AWARD":
      return awardEvents(change, image);
    case "ENDPOINT_CIRCUIT":
      return circuitEvents(change, image);
    case "TASK_LEDGER_ENTRY": {
      if (change.eventName !== "INSERT") return [];
      const entry = parse(ledgerImage, image, "ledger entry");
      return [
        {
          kind: "LEDGER_OUTCOME",
          key: `ledger:${entry.task_id}#${entry.completion_timestamp}`,
          task_id: entry.task_id,
          agent_id: entry.winning_agent_id,
          status: entry.status,
          quality_score: entry.quality_score,
          bid_amount: entry.bid_amount,
          actual_cost: entry.actual_cost,
          completion_timestamp: entry.completion_timestamp,
          supersedes: entry.supersedes ?? null,
          at: entry.recorded_at,
        },
      ];
    }
    default:
      return [];
  }
}
