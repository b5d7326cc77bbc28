import { randomUUID } from "node:crypto";
import { AGENT_STATUSES, COST_MODELS } from "../domain/agents/agent.schema.js";
import { escrowResolutionSchema } from "../domain/governance/escrow.service.js";
import { APPROVAL_STATUSES, ESCROW_STATUSES } from "../domain/governance/governance.types.js";
import type { ReplayResult } from "../domain/governance/replay.js";
import { type ApiAnswer, type ApiClient, apiPath, jsonBody } from "./api-client.js";
import type { CommandInput, CommandLine, OptionSpec, OptionSpecs } from "./args.js";
import { parseJsonInput, readInputFile, readJsonInput } from "./files.js";
import {
  agentLedgerText,
  agentPageText,
  agentText,
  approvalPageText,
  approvalText,
  auditText,
  credentialsText,
  escrowPageText,
  escrowText,
  rejectionText,
  shownOnceWarning,
  taskLedgerText,
  taskText,
} from "./format.js";
import { capabilityList, registrationBody } from "./registration.js";
import type {
  AgentLedger,
  AgentPage,
  AgentView,
  ApprovalRequest,
  AuditVerifyAnswer,
  Escrow,
  EscrowPage,
  Page,
  Registration,
  RejectionResult,
  RotatedKey,
  RotatedSecret,
  TaskLedger,
  TaskRecordView,
  WebhookAnswer,
} from "./responses.js";
import type { Target } from "./target.js";
import { webhookHeaders } from "./webhook-delivery.js";

export interface CommandContext {
  api: ApiClient;
  target: Target;
}

/** What a command printed: the API's body for `--json`, text otherwise. */
export interface Outcome {
  body: unknown;
  text: string;
  /** A line for stderr in both modes (the once-only credentials warning). */
  warning?: string;
  /** Non-zero when the answer itself is a failure (a broken audit chain). */
  exitCode?: number;
}

export interface Command extends CommandLine {
  run(input: CommandInput, context: CommandContext): Promise<Outcome>;
}

const shown = <T>({ body }: ApiAnswer<T>, render: (body: T) => string): Outcome => ({
  body,
  text: render(body),
});

/**
 * An answer with credentials the API shows only this once (those given: a value may be absent):
 * `head`, then the credentials and `also` (fields that are no secret), and a warning naming them.
 */
function shownOnce(
  body: unknown,
  head: readonly string[],
  agentId: string,
  credentials: ReadonlyArray<readonly [string, string | undefined]>,
  also: ReadonlyArray<readonly [string, string]> = [],
): Outcome {
  const given = credentials.filter((pair): pair is readonly [string, string] => pair[1] !== undefined);
  if (given.length === 0) return { body, text: head.join("\n") };
  return {
    body,
    text: [...head, ...(head.length > 0 ? [""] : []), credentialsText(agentId, [...given, ...also])].join(
      "\n",
    ),
    warning: shownOnceWarning(given.map(([name]) => name)),
  };
}

/** Why: the kill switch's reason, the approval's or the escrow's note. Who comes from the credentials. */
const reason: OptionSpec = {
  type: "string",
  value: "text",
  required: true,
  description: "why, recorded in the audit log (who: the operator whose token is sent)",
};
const paging: OptionSpecs = {
  limit: { type: "string", value: "n", description: "at most n items (1-100)" },
  cursor: { type: "string", value: "cursor", description: "the next page, from the previous answer" },
};

const pageQuery = (input: CommandInput) => ({ limit: input.option("limit"), cursor: input.option("cursor") });

function killSwitch(name: "kill" | "revive", summary: string): Command {
  return {
    group: "agents",
    name,
    summary,
    access: "operator",
    args: ["id"],
    options: { reason },
    async run(input, { api }) {
      const answer = await api.post<AgentView>(
        apiPath("agents", input.arg("id"), name),
        jsonBody({ reason: input.required("reason") }),
      );
      return shown(answer, agentText);
    },
  };
}

function decision(name: "approve" | "reject", summary: string): Command {
  return {
    group: "approvals",
    name,
    summary,
    access: "operator",
    args: ["id"],
    options: { reason },
    async run(input, { api }) {
      const answer = await api.post<ApprovalRequest | RejectionResult>(
        apiPath("approvals", input.arg("id"), name),
        jsonBody({ note: input.required("reason") }),
      );
      return shown(answer, (body) => ("request" in body ? rejectionText(body) : approvalText(body)));
    },
  };
}

/** A replay run in a few lines: what applied, and each record that still fails with its error. */
export function replayText(result: ReplayResult): string {
  const lines = [
    `replayed ${result.replayed}, already applied ${result.already_applied}, still failing ${result.still_failing.length} (${result.messages} failure messages)`,
  ];
  if (result.stopped) lines.push(`stopped early: ${result.stopped} (the rest stay in the failure store)`);
  for (const failing of result.still_failing) {
    const what = failing.event_key ?? `stream record ${failing.sequence_number ?? "?"}`;
    const state = failing.sqlstate ? ` [SQLSTATE ${failing.sqlstate}]` : "";
    lines.push(`  ${what}: ${failing.reason}${state}: ${failing.error}`);
  }
  return lines.join("\n");
}

/** Every command, in the order the usage lists them. */
export const COMMANDS: readonly Command[] = [
  {
    group: "agents",
    name: "register",
    summary: "Register an agent (its API key and bid secret are shown once) or update a listing",
    access: "agent",
    options: {
      file: {
        type: "string",
        value: "agent.json",
        description: "the registration as JSON; flags override it",
      },
      id: { type: "string", value: "agent-id", description: "agent_id" },
      capability: {
        type: "string",
        multiple: true,
        value: "name",
        description: "a capability (repeatable, or comma-separated)",
      },
      capabilities: {
        type: "string",
        multiple: true,
        value: "a,b",
        description: "capabilities, comma-separated",
      },
      "cost-model": { type: "string", choices: COST_MODELS, description: "cost_model" },
      endpoint: {
        type: "string",
        value: "url",
        description: "bidding endpoint: an SQS queue URL or an https URL",
      },
      wallet: { type: "string", value: "address", description: "where escrow pays out" },
      status: { type: "string", choices: AGENT_STATUSES, description: "listing status (operators only)" },
    },
    async run(input, { api }) {
      const file = input.option("file");
      const body = registrationBody(file === undefined ? undefined : readJsonInput(file, "agent file"), {
        agent_id: input.option("id"),
        capabilities: capabilityList([...input.options("capability"), ...input.options("capabilities")]),
        cost_model: input.option("cost-model"),
        bidding_endpoint: input.option("endpoint"),
        wallet_address: input.option("wallet"),
        status: input.option("status"),
      });
      const answer = await api.post<Registration>("/agents", jsonBody(body));
      const { agent, api_key, bid_secret } = answer.body;
      const headline =
        answer.status === 201 ? `registered agent ${agent.agent_id}` : `updated agent ${agent.agent_id}`;
      return shownOnce(answer.body, [headline, "", agentText(agent)], agent.agent_id, [
        ["API key", api_key],
        ["bid secret", bid_secret],
      ]);
    },
  },
  {
    group: "agents",
    name: "list",
    summary: "Agents that may bid with a capability (active, kill switch off)",
    access: "operator",
    options: {
      capability: {
        type: "string",
        value: "name",
        required: true,
        description: "the capability to list agents for",
      },
      ...paging,
    },
    async run(input, { api }) {
      const capability = input.required("capability");
      const answer = await api.get<AgentPage>("/agents", { capability, ...pageQuery(input) });
      return shown(answer, (page) => agentPageText(page, capability));
    },
  },
  {
    group: "agents",
    name: "show",
    summary: "An agent's profile and performance history",
    access: "agent",
    args: ["id"],
    run: async (input, { api }) =>
      shown(await api.get<AgentView>(apiPath("agents", input.arg("id"))), agentText),
  },
  {
    group: "agents",
    name: "ledger",
    summary: "An agent's ledger entries, newest first",
    access: "agent",
    args: ["id"],
    options: paging,
    run: async (input, { api }) =>
      shown(
        await api.get<AgentLedger>(apiPath("agents", input.arg("id"), "ledger"), pageQuery(input)),
        agentLedgerText,
      ),
  },
  killSwitch("kill", "Pull the kill switch: the agent stops being invited and its bids are refused"),
  killSwitch("revive", "Release the kill switch: the agent may bid again"),
  {
    group: "agents",
    name: "rotate-secret",
    summary:
      "Give an agent a new bid-signing secret, shown once; the old one keeps verifying for a short overlap",
    access: "agent",
    args: ["id"],
    options: {
      previous: {
        type: "string",
        choices: ["keep", "revoke"],
        description:
          "keep (default): the old secret verifies for the overlap; revoke: it stops at once (a leak)",
      },
    },
    async run(input, { api }) {
      const previous = input.option("previous");
      const path = apiPath("agents", input.arg("id"), "rotate-secret");
      const { body } = await api.post<RotatedSecret>(previous ? `${path}?previous=${previous}` : path);
      return shownOnce(
        body,
        [],
        body.agent_id,
        [["bid secret", body.bid_secret]],
        body.previous_valid_until ? [["previous secret valid until", body.previous_valid_until]] : [],
      );
    },
  },
  {
    group: "agents",
    name: "rotate-key",
    summary: "Give an agent a new API key, shown once; the old one keeps working for a short overlap",
    access: "agent",
    args: ["id"],
    async run(input, { api }) {
      const { body } = await api.post<RotatedKey>(apiPath("agents", input.arg("id"), "rotate-key"));
      return shownOnce(
        body,
        [],
        body.agent_id,
        [["API key", body.api_key]],
        [["previous key valid until", body.previous_key_valid_until]],
      );
    },
  },
  {
    group: "tasks",
    name: "show",
    summary: "A task (its issue URL): bids, award, ledger, rejected messages (an invited agent: its own bid)",
    access: "agent",
    args: ["task-url"],
    run: async (input, { api }) =>
      shown(await api.get<TaskRecordView>(apiPath("tasks", input.arg("task-url"))), taskText),
  },
  {
    group: "tasks",
    name: "ledger",
    summary: "A task's ledger entries, oldest first",
    access: "operator",
    args: ["task-url"],
    run: async (input, { api }) =>
      shown(await api.get<TaskLedger>(apiPath("tasks", input.arg("task-url"), "ledger")), (body) =>
        taskLedgerText(body.task_id, body.ledger),
      ),
  },
  {
    group: "approvals",
    name: "list",
    summary: "Approval requests of held awards, oldest first",
    access: "operator",
    options: {
      status: {
        type: "string",
        choices: APPROVAL_STATUSES,
        description: "only requests in this status (default: all)",
      },
      ...paging,
    },
    run: async (input, { api }) =>
      shown(
        await api.get<Page<ApprovalRequest>>("/approvals", {
          status: input.option("status"),
          ...pageQuery(input),
        }),
        approvalPageText,
      ),
  },
  decision("approve", "Approve a held award: it becomes final and the notices are sent"),
  decision("reject", "Reject a held award: the agent is excluded and the next-best bid is awarded"),
  {
    group: "escrow",
    name: "list",
    summary: "Escrows in creation order, filtered by task, agent or status",
    access: "operator",
    options: {
      task: {
        type: "string",
        value: "task-url",
        description: "only the escrow of this task (its issue URL)",
      },
      agent: { type: "string", value: "agent-id", description: "only this agent's escrows" },
      status: {
        type: "string",
        choices: ESCROW_STATUSES,
        description: "only escrows in this status (default: all)",
      },
      ...paging,
    },
    run: async (input, { api }) =>
      shown(
        await api.get<EscrowPage>("/escrows", {
          task_id: input.option("task"),
          agent_id: input.option("agent"),
          status: input.option("status"),
          ...pageQuery(input),
        }),
        escrowPageText,
      ),
  },
  {
    group: "escrow",
    name: "resolve",
    summary: "Settle a pending or disputed escrow as its judge (the operator whose token is sent)",
    access: "operator",
    args: ["id"],
    options: {
      to: {
        type: "string",
        choices: escrowResolutionSchema.shape.resolution.options,
        required: true,
        description: "pay the agent (release) or the client (refund)",
      },
      reason,
    },
    run: async (input, { api }) =>
      shown(
        await api.post<Escrow>(
          apiPath("escrows", input.arg("id"), "resolve"),
          jsonBody({ resolution: input.required("to"), note: input.required("reason") }),
        ),
        escrowText,
      ),
  },
  {
    group: "audit",
    name: "verify",
    summary:
      "Walk the audit log's hash chain and check it against the newest anchor; exits 1 when it is broken",
    access: "operator",
    options: {
      from: {
        type: "string",
        choices: ["checkpoint", "anchor"],
        description:
          "checkpoint (default): onward from the last verified row; anchor: only the rows since the newest anchor",
      },
    },
    async run(input, { api }) {
      const from = input.option("from");
      const answer = await api.get<AuditVerifyAnswer>(
        from === "anchor" ? "/audit/verify?from=anchor" : "/audit/verify",
      );
      return { ...shown(answer, auditText), exitCode: answer.body.ok ? 0 : 1 };
    },
  },
  {
    group: "governance",
    name: "replay",
    summary:
      "Re-apply records the governance projector set aside, once their cause is fixed (exactly once); exits 1 while some still fail",
    access: "operator",
    options: {
      limit: { type: "string", value: "n", description: "at most n failure messages (1-100, default 10)" },
    },
    async run(input, { api }) {
      const limit = input.option("limit");
      const answer = await api.post<ReplayResult>(
        limit === undefined ? "/governance/replay" : `/governance/replay?limit=${encodeURIComponent(limit)}`,
      );
      return { ...shown(answer, replayText), exitCode: answer.body.still_failing.length > 0 ? 1 : 0 };
    },
  },
  {
    group: "webhook",
    name: "send",
    summary: "Sign a GitHub webhook payload file and post it to /webhooks/github",
    access: "webhook",
    args: ["payload.json"],
    options: {
      event: {
        type: "string",
        value: "name",
        required: true,
        description:
          "the X-GitHub-Event the payload belongs to: issues, pull_request, pull_request_review, check_suite, check_run or ping",
      },
      delivery: { type: "string", value: "id", description: "X-GitHub-Delivery (default: a new UUID)" },
    },
    async run(input, { api, target }) {
      const path = input.arg("payload.json");
      const payload = readInputFile(path, "payload file");
      parseJsonInput(payload, path, "payload file");
      const deliveryId = input.option("delivery") ?? randomUUID();
      const headers = webhookHeaders(
        await target.webhookSecret(),
        payload,
        input.required("event"),
        deliveryId,
      );
      const answer = await api.webhook<WebhookAnswer>({ headers, body: payload });
      const verdict = answer.body.pong ? "ping answered" : "delivery accepted";
      return shown(answer, (body) => `${verdict} (${answer.status}): delivery ${body.delivery_id}`);
    },
  },
];
