import { textTable } from "../lib/text-table.js";
import type {
  AgentLedger,
  AgentPage,
  AgentView,
  ApprovalRequest,
  AuditVerifyAnswer,
  Escrow,
  EscrowPage,
  LedgerEntry,
  Page,
  RejectionResult,
  TaskRecordView,
} from "./responses.js";

/*
 * Human-readable output: aligned tables for lists, `key: value` blocks for single objects. Every
 * function is pure and returns text without a trailing newline.
 */

type Cell = string | number | boolean | null | undefined;

const text = (value: Cell): string => (value === null || value === undefined ? "-" : String(value));

/** Columns padded to their widest cell, headers in capitals, trailing spaces trimmed. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  return textTable(
    headers.map((header) => header.toUpperCase()),
    rows.map((row) => row.map(text)),
  );
}

/** `key: value` lines with the values aligned; pairs without a value are left out. */
export function fields(pairs: ReadonlyArray<readonly [string, Cell]>): string {
  const shown = pairs.filter(([, value]) => value !== undefined && value !== null && value !== "");
  const width = Math.max(0, ...shown.map(([key]) => key.length + 1));
  return shown.map(([key, value]) => `${`${key}:`.padEnd(width)} ${text(value)}`).join("\n");
}

const indent = (block: string) =>
  block
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");

/** A titled block, or `<title>: none` when there is nothing to show. */
function section<T>(title: string, items: readonly T[], render: (items: readonly T[]) => string): string {
  return items.length === 0 ? `${title}: none` : `${title} (${items.length})\n${indent(render(items))}`;
}

/** `45s`, `12m 05s`, `2h 05m`, `3d 04h`. */
export function duration(seconds: number | undefined): string | undefined {
  if (seconds === undefined || !Number.isFinite(seconds)) return undefined;
  const s = Math.round(seconds);
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${two(Math.floor((s % 86_400) / 3600))}h`;
}

/** A rate in [0, 1] as a percentage with one decimal: `66.7%`. */
export function percent(rate: number): string {
  return `${(Math.round(rate * 1000) / 10).toFixed(1)}%`;
}

/** The footer of a list that has more pages. */
const more = (page: Page<unknown>) => (page.cursor ? `\nmore: --cursor ${page.cursor}` : "");

/** `ON (operator:alice, 2025-07-03T09:00:00.000Z: spamming bids)`: the switch, and who moved it last, when and why. */
function killSwitchText(agent: AgentView): string {
  const state = agent.kill_switch_active ? "ON" : "off";
  if (!agent.kill_switch_changed_by) return state;
  const why = agent.kill_switch_reason ? `: ${agent.kill_switch_reason}` : "";
  return `${state} (${agent.kill_switch_changed_by}, ${agent.kill_switch_changed_at ?? "?"}${why})`;
}

export function agentText(agent: AgentView): string {
  const history = agent.performance_history;
  const scored = history.total_tasks_completed > 0;
  return [
    fields([
      ["agent", agent.agent_id],
      ["status", agent.status],
      ["kill switch", killSwitchText(agent)],
      ["capabilities", agent.capabilities.join(", ")],
      ["cost model", agent.cost_model],
      ["bidding endpoint", `${agent.bidding_endpoint} (${agent.endpoint_kind})`],
      ["wallet", agent.wallet_address],
      [
        "trust",
        agent.trust_score === undefined ? "not scored yet" : `${agent.trust_score} (${agent.audit_level})`,
      ],
      ["created", agent.created_at],
      ["updated", agent.updated_at],
    ]),
    "",
    "Performance history",
    indent(
      fields([
        ["tasks completed", history.total_tasks_completed],
        ["success rate", scored ? percent(history.success_rate) : "-"],
        ["avg cost per task", scored ? history.average_cost_per_task : "-"],
        ["avg completion time", scored ? duration(history.average_completion_time_sec) : "-"],
      ]),
    ),
  ].join("\n");
}

export function agentPageText(page: AgentPage, capability: string): string {
  if (page.items.length === 0) return `no agents may bid with capability ${capability}`;
  return (
    table(
      ["agent", "cost", "kind", "endpoint", "capabilities"],
      page.items.map((a) => [
        a.agent_id,
        a.cost_model,
        a.endpoint_kind,
        a.bidding_endpoint,
        a.capabilities.join(","),
      ]),
    ) + more(page)
  );
}

/** An agent's API key and/or bid-signing secret, which the API shows only in this one answer. */
export function credentialsText(
  agentId: string,
  credentials: ReadonlyArray<readonly [string, Cell]>,
): string {
  return fields([["agent", agentId], ...credentials]);
}

/** The stderr line that goes with {@link credentialsText}, naming what it showed (`["API key", "bid secret"]`). */
export function shownOnceWarning(names: readonly string[]): string {
  const several = names.length > 1;
  return `warning: the ${names.join(" and the ")} ${several ? "are" : "is"} shown only once; store ${several ? "them" : "it"} now (a lost one can only be rotated)`;
}

function ledgerTable(entries: readonly LedgerEntry[], by: "agent" | "task"): string {
  return table(
    ["completed", "status", by, "bid", "cost", "quality", "time", "supersedes"],
    entries.map((e) => [
      e.completion_timestamp,
      e.status,
      by === "agent" ? e.winning_agent_id : e.task_id,
      e.bid_amount,
      e.actual_cost,
      e.quality_score,
      duration(e.completion_time_sec),
      e.supersedes,
    ]),
  );
}

const taskLedger = (ledger: readonly LedgerEntry[]) =>
  section("Ledger", ledger, (entries) => ledgerTable(entries, "agent"));

export function taskLedgerText(taskId: string, ledger: readonly LedgerEntry[]): string {
  return `${fields([["task", taskId]])}\n${taskLedger(ledger)}`;
}

export function agentLedgerText(page: AgentLedger): string {
  const title = `Ledger of ${page.agent_id}, newest first`;
  return section(title, page.items, (entries) => ledgerTable(entries, "task")) + more(page);
}

export function taskText({ task, bids, award, ledger, rejections }: TaskRecordView): string {
  const outcome = task.latest_outcome_status
    ? `${task.latest_outcome_status} at ${task.latest_outcome_at} (quality ${text(task.latest_outcome_quality)})`
    : undefined;
  return [
    fields([
      ["task", task.task_id],
      ["title", task.title],
      ["status", task.status],
      ["capabilities", task.required_capabilities.join(", ")],
      ["budget", task.budget],
      ["bid deadline", task.bid_deadline],
      ["latest outcome", outcome],
      ["excluded agents", task.approval_excluded_agents?.join(", ")],
      ["created", task.created_at],
      ["updated", task.updated_at],
    ]),
    "",
    section("Bids", bids, (items) =>
      table(
        ["agent", "status", "bid", "estimate", "delivery", "answered", "notice"],
        items.map((b) => [
          b.agent_id,
          b.status,
          b.bid_amount,
          duration(b.estimated_completion_sec),
          b.delivery_status,
          b.answered_at,
          b.notice ? `${b.notice} (${b.notice_status ?? "PENDING"})` : undefined,
        ]),
      ),
    ),
    "",
    award
      ? `Award\n${indent(
          fields([
            ["agent", award.agent_id],
            ["status", award.status],
            ["bid", award.bid_amount],
            ["actual cost", award.actual_cost],
            ["awarded", award.awarded_at],
            ["approval reason", award.approval_reason],
          ]),
        )}`
      : "Award: none",
    "",
    taskLedger(ledger),
    "",
    section("Rejected messages", rejections, (items) =>
      table(
        ["received", "agent", "type", "reason"],
        items.map((r) => [r.received_at, r.agent_id, r.message_type, r.reason]),
      ),
    ),
  ].join("\n");
}

export function approvalPageText(page: Page<ApprovalRequest>): string {
  if (page.items.length === 0) return "no approval requests";
  return (
    table(
      ["id", "status", "task", "agent", "bid", "reason", "requested", "reviewer"],
      page.items.map((r) => [
        r.id,
        r.status,
        r.task_id,
        r.agent_id,
        r.bid_amount,
        r.reason,
        r.requested_at,
        r.reviewer,
      ]),
    ) + more(page)
  );
}

export function approvalText(request: ApprovalRequest): string {
  return fields([
    ["approval", request.id],
    ["status", request.status],
    ["task", request.task_id],
    ["agent", request.agent_id],
    ["bid", request.bid_amount],
    ["reason", request.reason],
    ["requested", request.requested_at],
    ["reviewer", request.reviewer],
    ["decided", request.decided_at],
    ["note", request.note],
  ]);
}

export function rejectionText({ request, next, next_agent_id }: RejectionResult): string {
  return `${approvalText(request)}\n\n${fields([
    ["re-award", next],
    ["next agent", next_agent_id],
  ])}`;
}

export function escrowPageText(page: EscrowPage): string {
  if (page.items.length === 0) return "no escrows";
  return (
    table(
      ["id", "status", "task", "agent", "amount", "resolved by", "created"],
      page.items.map((e) => [e.id, e.status, e.task_id, e.agent_id, e.amount, e.resolved_by, e.created_at]),
    ) + more(page)
  );
}

export function escrowText(escrow: Escrow): string {
  return fields([
    ["escrow", escrow.id],
    ["status", escrow.status],
    ["task", escrow.task_id],
    ["agent", escrow.agent_id],
    ["amount", escrow.amount],
    ["wallet", escrow.worker_wallet],
    ["resolved by", escrow.resolved_by],
    ["settled", escrow.settled_at],
    ["created", escrow.created_at],
    ["updated", escrow.updated_at],
  ]);
}

export function auditText(verification: AuditVerifyAnswer): string {
  const verdict = !verification.ok
    ? `BROKEN at seq ${verification.first_bad_seq}: ${verification.reason} (${verification.rows_checked} rows verified before it)`
    : verification.complete
      ? `ok: ${verification.rows} audit rows verified`
      : `ok so far: ${verification.rows} audit rows verified (through seq ${verification.verified_through}); the walk stopped before the head: run it again to go on`;
  // An older server answers without the anchor fields.
  if (verification.anchor === undefined) return verdict;
  const { anchor } = verification;
  return [
    verdict,
    fields([
      [
        "anchor",
        anchor
          ? `seq ${anchor.seq} of ${anchor.anchored_at} (key ${anchor.key_id})`
          : `none yet (${verification.anchor_note ?? "no anchor written yet"})`,
      ],
      ["unanchored rows", String(verification.unanchored_rows ?? 0)],
    ]),
  ].join("\n");
}
