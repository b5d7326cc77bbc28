import type { AgentService } from "../domain/agents/agent.service.js";
import type { AgentProfile } from "../domain/agents/agent.types.js";
import { ForbiddenError, NotFoundError } from "../domain/errors.js";
import type { ApprovalService } from "../domain/governance/approval.service.js";
import type { EscrowService } from "../domain/governance/escrow.service.js";
import type { AuditVerification } from "../domain/governance/governance.types.js";
import { type ReplayResult, replayLimitOf } from "../domain/governance/replay.js";
import { actorOf, type Principal } from "../domain/identity/principal.js";
import type { LedgerService } from "../domain/ledger/ledger.service.js";
import type { TaskService } from "../domain/tasks/task.service.js";
import type { Bid, Task, TaskRecord } from "../domain/tasks/task.types.js";

/**
 * Who may call a route:
 * - `operator`: operators only;
 * - `self`: operators, or the agent named by the route's `:agent_id`;
 * - `agent`: operators and any agent, the handler narrowing what an agent sees or changes (a task it
 *   was invited to; its own registration).
 * Everything else an agent tries answers 403 `FORBIDDEN`, naming the permission, and changes nothing.
 */
export type Access = "operator" | "self" | "agent";

export interface GovernanceApi {
  approvals: ApprovalService;
  escrows: EscrowService;
  /**
   * Walks the chain onward from the saved checkpoint (`fromAnchor`: from the newest anchor) and
   * checks it against the newest anchor; the answer also names that anchor and the unanchored rows.
   */
  verifyAudit(options?: { fromAnchor?: boolean }): Promise<AuditVerification>;
  /**
   * Re-applies records from the projector's failure store (exactly once, by event key); absent
   * where this function may not read that store (on AWS the `governance-replay` function does it).
   */
  replay?(input: { actor: string; limit?: number }): Promise<ReplayResult>;
}

export interface RestDeps {
  agents: AgentService;
  tasks: TaskService;
  ledger: LedgerService;
  /** Opened on first use; a failure (or none configured) answers 503 on governance routes only. */
  governance?: () => Promise<GovernanceApi>;
}

export interface RouteCall {
  principal: Principal;
  /** Decoded path parameters. */
  params: Record<string, string>;
  query: Record<string, string>;
  page: { limit?: number; cursor?: string };
  /** The parsed JSON body (`undefined` when the route takes none or it was empty). */
  body: unknown;
  deps: RestDeps;
}

export interface RouteResult {
  status: number;
  body: unknown;
}

export interface RestRoute {
  method: "GET" | "POST";
  /** Router path: `:name` is one decoded segment (task ids are percent-encoded URLs). */
  path: `/${string}`;
  /** What the caller is doing, as a 403 names it. */
  permission: string;
  access: Access;
  /** Query parameters the route reads; any other is a 400. */
  query: readonly string[];
  /** `json`: a JSON body is required; `optional`: an empty body is `undefined`; `none`: a body is a 400. */
  body: "json" | "optional" | "none";
  /** Postgres-backed: when governance cannot be reached the route answers 503, the rest keep working. */
  governance?: true;
  summary: string;
  handle(call: RouteCall): Promise<RouteResult>;
}

const PAGE = ["limit", "cursor"] as const;

function governanceOf(deps: RestDeps): Promise<GovernanceApi> {
  if (!deps.governance) {
    throw new RequestError(503, "GOVERNANCE_UNAVAILABLE", "Governance (Postgres) is not configured");
  }
  return deps.governance();
}
const ok = (body: unknown): RouteResult => ({ status: 200, body });

/** The public view of a profile: everything documented, none of the bookkeeping. */
export function agentView(profile: AgentProfile) {
  const { performance_totals: _totals, version: _version, ...view } = profile;
  return view;
}

function taskView(task: Task) {
  const { version: _version, evidence: _evidence, ...rest } = task;
  return rest;
}

/** A bid without how its delivery went: error text can carry AWS account and role details. */
function bidView({ delivery_error: _error, ...bid }: Bid) {
  return bid;
}

/** What an invited agent sees of a task: the task, its own bid and, once decided, the award. */
function invitedView(record: TaskRecord, agentId: string) {
  const own = record.bids.find((bid) => bid.agent_id === agentId);
  if (!own) return undefined;
  const {
    delivery_status: _status,
    delivery_attempts: _attempts,
    delivery_error: _error,
    notice_status: _notice,
    ...bid
  } = own;
  const award = record.award?.status === "AWARDED" ? record.award : undefined;
  const won = award?.agent_id === agentId;
  return {
    task: taskView(record.task),
    bids: [bid],
    award: award
      ? {
          task_id: award.task_id,
          agent_id: award.agent_id,
          bid_amount: award.bid_amount,
          status: award.status,
          awarded_at: award.awarded_at,
          ...(won && award.actual_cost !== undefined ? { actual_cost: award.actual_cost } : {}),
        }
      : null,
    ledger: won ? record.ledger : [],
    rejections: [],
  };
}

/**
 * Every REST route, with who may call it next to its path: the one place to read the API's
 * security. The router is built from this list and the authorization test is derived from it.
 */
export const REST_ROUTES: readonly RestRoute[] = [
  {
    method: "GET",
    path: "/tasks/:task_id",
    permission: "tasks:read",
    access: "agent",
    query: [],
    body: "none",
    summary: "the task with its bids, award, ledger and rejections (an invited agent: its own bid only)",
    async handle({ principal, params, deps }) {
      const record = await deps.tasks.get(params.task_id).catch((error: unknown) => {
        // An agent cannot tell a task that does not exist from one it was not invited to.
        if (principal.kind === "agent" && error instanceof NotFoundError) return undefined;
        throw error;
      });
      if (principal.kind === "agent") {
        const view = record && invitedView(record, principal.agentId);
        if (!view) {
          throw new ForbiddenError(
            "tasks:read",
            `${actorOf(principal)} lacks tasks:read for this task: only operators and invited agents may read it`,
          );
        }
        return ok(view);
      }
      if (!record) throw new Error("unreachable: operator task read without a record");
      return ok({
        task: taskView(record.task),
        bids: record.bids.map(bidView),
        award: record.award ?? null,
        ledger: record.ledger,
        rejections: record.rejections,
      });
    },
  },
  {
    method: "GET",
    path: "/tasks/:task_id/ledger",
    permission: "tasks:read-ledger",
    access: "operator",
    query: [],
    body: "none",
    summary: "the task's ledger entries, oldest first",
    async handle({ params, deps }) {
      const record = await deps.tasks.get(params.task_id);
      return ok({ task_id: record.task.task_id, ledger: record.ledger });
    },
  },
  {
    method: "GET",
    path: "/agents",
    permission: "agents:list",
    access: "operator",
    query: ["capability", ...PAGE],
    body: "none",
    summary: "agents that may bid with a capability, paginated",
    async handle({ query, page, deps }) {
      if (query.capability === undefined) {
        throw new RequestError(400, "VALIDATION_FAILED", "Query parameter 'capability' is required");
      }
      const result = await deps.agents.findByCapability(query.capability, page);
      return ok({ items: result.items, cursor: result.cursor ?? null });
    },
  },
  {
    method: "POST",
    path: "/agents",
    permission: "agents:register",
    access: "agent",
    query: [],
    body: "json",
    summary:
      "register (operator: 201 with api_key and bid_secret, shown once) or update a listing (operator, or the agent itself)",
    async handle({ principal, body, deps }) {
      const { profile, created, secret, apiKey } = await deps.agents.register(body, principal);
      return {
        status: created ? 201 : 200,
        body: {
          agent: agentView(profile),
          ...(apiKey !== undefined ? { api_key: apiKey } : {}),
          ...(secret !== undefined ? { bid_secret: secret } : {}),
        },
      };
    },
  },
  {
    method: "GET",
    path: "/agents/:agent_id",
    permission: "agents:read",
    access: "self",
    query: [],
    body: "none",
    summary: "the profile with performance history and trust",
    async handle({ params, deps }) {
      return ok(agentView(await deps.agents.get(params.agent_id)));
    },
  },
  {
    method: "GET",
    path: "/agents/:agent_id/ledger",
    permission: "agents:read-ledger",
    access: "self",
    query: PAGE,
    body: "none",
    summary: "the agent's ledger entries, newest first, paginated",
    async handle({ params, page, deps }) {
      const id = params.agent_id as string;
      await deps.agents.get(id);
      const history = await deps.ledger.agentHistory(id, page);
      return ok({ agent_id: id, items: history.items, cursor: history.cursor ?? null });
    },
  },
  {
    method: "POST",
    path: "/agents/:agent_id/rotate-secret",
    permission: "agents:rotate-secret",
    access: "self",
    query: ["previous"],
    body: "none",
    summary:
      "a new bid-signing secret, shown once; the previous one verifies until previous_valid_until (`?previous=revoke`: not at all)",
    async handle({ principal, params, query, deps }) {
      const { agent_id, secret, previous_valid_until } = await deps.agents.rotateSecret(
        params.agent_id,
        principal,
        { previous: query.previous },
      );
      return ok({
        agent_id,
        bid_secret: secret,
        ...(previous_valid_until !== undefined ? { previous_valid_until } : {}),
      });
    },
  },
  {
    method: "POST",
    path: "/agents/:agent_id/rotate-key",
    permission: "agents:rotate-key",
    access: "self",
    query: [],
    body: "none",
    summary: "a new API key, shown once; the previous one works until previous_key_valid_until",
    async handle({ principal, params, deps }) {
      return ok(await deps.agents.rotateApiKey(params.agent_id, principal));
    },
  },
  ...(["kill", "revive"] as const).map(
    (action): RestRoute => ({
      method: "POST",
      path: `/agents/:agent_id/${action}`,
      permission: `agents:${action}`,
      access: "operator",
      query: [],
      body: "optional",
      summary: `${action === "kill" ? "engage" : "release"} the kill switch (optional { reason })`,
      async handle({ principal, params, body, deps }) {
        const profile = await deps.agents.setKillSwitch(params.agent_id, action === "kill", principal, body);
        return ok(agentView(profile));
      },
    }),
  ),
  {
    method: "GET",
    path: "/approvals",
    permission: "approvals:read",
    access: "operator",
    query: ["status", ...PAGE],
    body: "none",
    governance: true,
    summary: "approval requests, oldest first, paginated",
    async handle({ query, page, deps }) {
      const result = await (await governanceOf(deps)).approvals.list(query.status, page);
      return ok({ items: result.items, cursor: result.cursor ?? null });
    },
  },
  {
    method: "GET",
    path: "/approvals/:approval_id",
    permission: "approvals:read",
    access: "operator",
    query: [],
    body: "none",
    governance: true,
    summary: "one approval request",
    async handle({ params, deps }) {
      return ok(await (await governanceOf(deps)).approvals.get(params.approval_id));
    },
  },
  ...(["approve", "reject"] as const).map(
    (decision): RestRoute => ({
      method: "POST",
      path: `/approvals/:approval_id/${decision}`,
      permission: "approvals:decide",
      access: "operator",
      query: [],
      body: "optional",
      governance: true,
      summary: `${decision} a held award (optional { note }); the reviewer is the calling operator`,
      async handle({ principal, params, body, deps }) {
        const { approvals } = await governanceOf(deps);
        const actor = actorOf(principal);
        const input = body ?? {};
        return ok(
          decision === "approve"
            ? await approvals.approve(params.approval_id, input, actor)
            : await approvals.reject(params.approval_id, input, actor),
        );
      },
    }),
  ),
  {
    method: "GET",
    path: "/escrows",
    permission: "escrows:read",
    access: "operator",
    query: ["task_id", "agent_id", "status", ...PAGE],
    body: "none",
    governance: true,
    summary: "escrows, filtered by task_id, agent_id or status, paginated",
    async handle({ query, page, deps }) {
      const filter = Object.fromEntries(
        (["task_id", "agent_id", "status"] as const).flatMap((key) =>
          query[key] !== undefined ? [[key, query[key]]] : [],
        ),
      );
      const result = await (await governanceOf(deps)).escrows.list(filter, page);
      return ok({ items: result.items, cursor: result.cursor ?? null });
    },
  },
  {
    method: "GET",
    path: "/escrows/:escrow_id",
    permission: "escrows:read",
    access: "operator",
    query: [],
    body: "none",
    governance: true,
    summary: "one escrow",
    async handle({ params, deps }) {
      return ok(await (await governanceOf(deps)).escrows.get(params.escrow_id));
    },
  },
  {
    method: "POST",
    path: "/escrows/:escrow_id/resolve",
    permission: "escrows:resolve",
    access: "operator",
    query: [],
    body: "json",
    governance: true,
    summary: "settle an escrow ({ resolution: release or refund, note? }); the judge is the calling operator",
    async handle({ principal, params, body, deps }) {
      const { escrows } = await governanceOf(deps);
      return ok(await escrows.resolve(params.escrow_id, body, actorOf(principal)));
    },
  },
  {
    method: "GET",
    path: "/audit/verify",
    permission: "audit:verify",
    access: "operator",
    query: ["from"],
    body: "none",
    governance: true,
    summary:
      "walk the audit chain onward from the last verified row (`?from=anchor`: from the newest anchor) and check it against the newest anchor",
    async handle({ query, deps }) {
      if (query.from !== undefined && query.from !== "anchor") {
        throw new RequestError(400, "VALIDATION_FAILED", "Query parameter 'from' must be 'anchor'");
      }
      return ok(await (await governanceOf(deps)).verifyAudit({ fromAnchor: query.from === "anchor" }));
    },
  },
  {
    method: "POST",
    path: "/governance/replay",
    permission: "governance:replay",
    access: "operator",
    query: ["limit"],
    body: "none",
    governance: true,
    summary:
      "re-apply up to `limit` (default 10) records from the projector's failure store, exactly once; audited with the calling operator",
    async handle({ principal, query, deps }) {
      const limit = replayLimitOf(query.limit);
      const governance = await governanceOf(deps);
      if (!governance.replay) {
        throw new RequestError(
          503,
          "REPLAY_UNAVAILABLE",
          "Replay is not served here: on AWS invoke the governance-replay function (see docs/deploy.md)",
        );
      }
      return ok(await governance.replay({ actor: actorOf(principal), limit }));
    },
  },
];

/** A request the API refuses before any domain code runs (bad encoding, body, query, method). */
export class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "RequestError";
  }
}
