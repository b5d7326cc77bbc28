import { randomUUID } from "node:crypto";
import { AGENT_STATUSES, COST_MODELS } from "../domain/agents/agent.schema.js";
import { escrowResolutionSchema } from "../domain/governance/escrow.service.js";
import { APPROVAL_STATUSES } from "../domain/governance/governance.types.js";
import { ACTOR_HEADER } from "../http/rest-api.js";
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
  escrowText,
  rejectionText,
  SECRET_WARNING,
  secretText,
  taskLedgerText,
  taskText,
} from "./format.js";
import { capabilityList, registrationBody } from "./registration.js";
import type {
  AgentLedger,
  AgentPage,
  AgentView,
  ApprovalRequest,
  AuditVerification,
  Escrow,
  Page,
  Registration,
  RejectionResult,
  RotatedSecret,
  TaskLedger,
  TaskRecordView,
  WebhookAnswer,
} from "./responses.js";
import type { Env, Target } from "./target.js";
import { webhookHeaders } from "./webhook-delivery.js";

export interface CommandContext {
  api: ApiClient;
  target: Target;
  env: Env;
}

/** What a command printed: the API's body for `--json`, text otherwise. */
export interface Outcome {
  body: unknown;
  text: string;
  /** A line for stderr in both modes (the once-only secret warning). */
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

const reason: OptionSpec = {
  type: "string",
  value: "text",
  required: true,
  description: "why, recorded in the audit log",
};
const actor: OptionSpec = {
  type: "string",
  value: "name",
  description: "who, recorded in the audit log (default: $USER, else ops-cli)",
};
const paging: OptionSpecs = {
  limit: { type: "string", value: "n", description: "at most n items (1-100)" },
  cursor: { type: "string", value: "cursor", description: "the next page, from the previous answer" },
};

/** Who the audit log names: `--actor`, else the login name. Names have no spaces (see actorNameSchema). */
const actorOf = (input: CommandInput, env: Env) => input.option("actor") ?? (env.USER || "ops-cli");

const pageQuery = (input: CommandInput) => ({ limit: input.option("limit"), cursor: input.option("cursor") });

function killSwitch(name: "kill" | "revive", summary: string): Command {
  return {
    group: "agents",
    name,
    summary,
    args: ["id"],
    options: { reason, actor },
    async run(input, { api, env }) {
      const answer = await api.post<AgentView>(
        apiPath("agents", input.arg("id"), name),
        jsonBody({ reason: input.required("reason") }, { [ACTOR_HEADER]: actorOf(input, env) }),
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
    args: ["id"],
    options: { reason, actor },
    async run(input, { api, env }) {
      const answer = await api.post<ApprovalRequest | RejectionResult>(
        apiPath("approvals", input.arg("id"), name),
        jsonBody({ reviewer: actorOf(input, env), note: input.required("reason") }),
      );
      return shown(answer, (body) => ("request" in body ? rejectionText(body) : approvalText(body)));
    },
  };
}

/** Every command, in the order the usage lists them. */
export const COMMANDS: readonly Command[] = [
  {
    group: "agents",
    name: "register",
    summary: "Register an agent or update it; a new agent's bid secret is shown once",
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
      status: { type: "string", choices: AGENT_STATUSES, description: "listing status" },
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
      const { agent, bid_secret } = answer.body;
      const headline =
        answer.status === 201 ? `registered agent ${agent.agent_id}` : `updated agent ${agent.agent_id}`;
      return {
        body: answer.body,
        text: [
          headline,
          "",
          agentText(agent),
          ...(bid_secret ? ["", secretText(agent.agent_id, bid_secret)] : []),
        ].join("\n"),
        ...(bid_secret ? { warning: SECRET_WARNING } : {}),
      };
    },
  },
  {
    group: "agents",
    name: "list",
    summary: "Agents that may bid with a capability (active, kill switch off)",
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
    args: ["id"],
    run: async (input, { api }) =>
      shown(await api.get<AgentView>(apiPath("agents", input.arg("id"))), agentText),
  },
  {
    group: "agents",
    name: "ledger",
    summary: "An agent's ledger entries, newest first",
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
    summary: "Give an agent a new bid-signing secret; the old one stops working at once",
    args: ["id"],
    async run(input, { api }) {
      const answer = await api.post<RotatedSecret>(apiPath("agents", input.arg("id"), "rotate-secret"));
      return {
        ...shown(answer, (body) => secretText(body.agent_id, body.bid_secret)),
        warning: SECRET_WARNING,
      };
    },
  },
  {
    group: "tasks",
    name: "show",
    summary: "A task (its issue URL) with its bids, award, ledger and rejected messages",
    args: ["task-url"],
    run: async (input, { api }) =>
      shown(await api.get<TaskRecordView>(apiPath("tasks", input.arg("task-url"))), taskText),
  },
  {
    group: "tasks",
    name: "ledger",
    summary: "A task's ledger entries, oldest first",
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
    name: "resolve",
    summary: "Settle a pending or disputed escrow as its judge",
    args: ["id"],
    options: {
      to: {
        type: "string",
        choices: escrowResolutionSchema.shape.resolution.options,
        required: true,
        description: "pay the agent (release) or the client (refund)",
      },
      reason,
      actor,
    },
    run: async (input, { api, env }) =>
      shown(
        await api.post<Escrow>(
          apiPath("escrows", input.arg("id"), "resolve"),
          jsonBody({
            resolution: input.required("to"),
            judge: actorOf(input, env),
            note: input.required("reason"),
          }),
        ),
        escrowText,
      ),
  },
  {
    group: "audit",
    name: "verify",
    summary: "Walk the audit log's hash chain; exits 1 when it is broken",
    async run(_input, { api }) {
      const answer = await api.get<AuditVerification>("/audit/verify");
      return { ...shown(answer, auditText), exitCode: answer.body.ok ? 0 : 1 };
    },
  },
  {
    group: "webhook",
    name: "send",
    summary: "Sign a GitHub webhook payload file and post it to /webhooks/github",
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
