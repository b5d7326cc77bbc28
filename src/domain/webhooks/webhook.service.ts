import { DeadlineExceededError } from "../../lib/deadline.js";
import { retry } from "../../lib/retry.js";
import type { TaskRepository } from "../../ports/task-repository.js";
import type { DeliveryRecord, RememberOutcome, WebhookStateRepository } from "../../ports/webhook-state.js";
import { replaceControlCharacters } from "../common.schema.js";
import { ConflictError, NotFoundError, ValidationError } from "../errors.js";
import { type LedgerEntry, type LedgerEntryInput, ledgerEntryInputSchema } from "../ledger/ledger.schema.js";
import { desiredOutcome, type EvidencePatch } from "../tasks/evidence.js";
import { newTaskSchema } from "../tasks/task.schema.js";
import { parseOrThrow } from "../validation.js";
import type { IntakeMessage } from "./intake-message.js";
import { type Intent, type InterpretOptions, interpretDelivery, MalformedPayloadError } from "./interpret.js";
import { repositoryAllowed } from "./trust.js";

export interface WebhookServiceOptions extends InterpretOptions {
  tasks: TaskRepository;
  state: WebhookStateRepository;
  bidWindowSeconds: number;
  /**
   * Repositories whose deliveries may create tasks and give evidence: `owner/name` or `owner/*`
   * patterns, lowercased (`parseAllowedRepositories`). Unset: every repository (whose webhook knows
   * the secret); an empty list allows none.
   */
  allowedRepositories?: readonly string[];
  now?: () => Date;
}

/** One thing a delivery did or declined to do, for logs and tests. */
export type Effect =
  | { kind: "task_created"; task_id: string; created: boolean }
  | { kind: "pr_linked"; pr: string; task_ids: string[] }
  | { kind: "outcome_recorded"; task_id: string; entry: LedgerEntry; supersedes?: string }
  | { kind: "outcome_unchanged"; task_id: string }
  | { kind: "ignored"; task_id?: string; reason: string };

export type DeliveryResult =
  | { status: "processed"; effects: Effect[] }
  /** Already handled; `effects` lists anything this worker still wrote while racing a twin. */
  | {
      status: "duplicate";
      effects: Effect[];
      /** Set when the body, not the id, was seen before: the delivery id that handled the same body. */
      duplicate_of?: string;
    }
  | { status: "rejected"; reason: string }
  /** Not taken as evidence (e.g. a repository outside the allowlist); recorded, so redeliveries are duplicates. */
  | { status: "ignored"; reason: string };

const MAX_RECONCILE_ROUNDS = 5;

/** A reconcile round lost to a concurrent writer: judged again from what is stored now. */
class LostRound extends Error {
  override name = "LostRound";
  constructor(readonly conflict: ConflictError) {
    super(conflict.message);
  }
}

/**
 * Turns verified GitHub deliveries into tasks, evidence and ledger outcomes.
 *
 * Exactly one effect per delivery comes from two layers. Every effect is idempotent by GitHub's own
 * identities (issue URL, fact timestamps, check and review ids), so a repeated or parallel delivery
 * cannot add anything twice; and the `DELIVERY#<id>` record, written with a condition after the work,
 * lets a redelivery skip the work and be counted as a duplicate. The same transaction claims the
 * SHA-256 of the raw body (`DELIVERY_BODY#<sha256>`), so the same body under another delivery id is a
 * duplicate too. Both are written only once the work is done: a delivery that fails half-way leaves
 * neither, and its retry (same id) runs again; a different id with the same body runs too until the
 * first one finishes, which at most repeats idempotent work.
 */
export function createWebhookService(options: WebhookServiceOptions) {
  const {
    tasks,
    state: webhookState,
    bidWindowSeconds,
    allowedRepositories,
    now = () => new Date(),
  } = options;

  /** Why a delivery's repository may not give evidence, or `undefined` when it may. */
  function repositoryRefusal(payload: Record<string, unknown>): string | undefined {
    if (!allowedRepositories) return undefined;
    const repository = payload.repository;
    const fullName =
      typeof repository === "object" && repository !== null
        ? (repository as Record<string, unknown>).full_name
        : undefined;
    // Without a repository name a handled event is malformed, and interpretation rejects it.
    if (typeof fullName !== "string") return undefined;
    if (repositoryAllowed(allowedRepositories, fullName)) return undefined;
    return `repository ${fullName.slice(0, 201)} is not in GITHUB_ALLOWED_REPOSITORIES`;
  }

  /** The result for a delivery that another one (same id, or same body) was remembered before. */
  function duplicateOf(outcome: RememberOutcome & { remembered: false }, effects: Effect[]): DeliveryResult {
    return outcome.duplicate === "body"
      ? { status: "duplicate", effects, duplicate_of: outcome.delivery_id }
      : { status: "duplicate", effects };
  }

  /**
   * One round of {@link reconcile}. The entry is validated with the ledger's own schema before it is
   * written: stored data that cannot make a valid entry (say, a corrupted award) is a
   * ValidationError, which rejects the delivery with the reason instead of writing a bad entry.
   */
  async function reconcileOnce(taskId: string): Promise<Effect> {
    const record = await tasks.getTaskRecord(taskId, { consistent: true, rejections: 0 });
    if (!record) return { kind: "ignored", task_id: taskId, reason: "not a marketplace task" };
    const desired = record.task.evidence ? desiredOutcome(record.task.evidence) : undefined;
    if (!desired) return { kind: "outcome_unchanged", task_id: taskId };
    const { award } = record;
    if (award?.status !== "AWARDED") {
      return {
        kind: "ignored",
        task_id: taskId,
        reason: `task was never awarded; ${desired.reason} not recorded`,
      };
    }
    const head = record.ledger.find((e) => e.completion_timestamp === record.task.latest_outcome_at);
    if (head && head.status === desired.status && head.quality_score === desired.quality_score) {
      return { kind: "outcome_unchanged", task_id: taskId };
    }
    // A newer fact is stamped with its own time. Late evidence about the current fact yields a
    // correction stamped 1 ms after the entry it supersedes, keeping ledger keys unique and ordered.
    const stamp =
      !head || desired.decidedAt > head.completion_timestamp
        ? desired.decidedAt
        : new Date(Date.parse(head.completion_timestamp) + 1).toISOString();
    const elapsed = Math.round((Date.parse(desired.decidedAt) - Date.parse(award.awarded_at)) / 1000);
    const entry: LedgerEntryInput = {
      task_id: taskId,
      winning_agent_id: award.agent_id,
      bid_amount: award.bid_amount,
      actual_cost: award.actual_cost ?? award.bid_amount,
      status: desired.status,
      quality_score: desired.quality_score,
      completion_timestamp: stamp,
      ...(elapsed >= 0 ? { completion_time_sec: elapsed } : {}),
    };
    // Checked, not transformed: the entry is written as built, so its timestamps (ledger keys) keep
    // the form the evidence stored them in.
    parseOrThrow(ledgerEntryInputSchema, entry, "ledger entry");
    try {
      const result = await tasks.recordOutcome(entry, head ? { supersedes: head.completion_timestamp } : {});
      if (!result.recorded) return { kind: "outcome_unchanged", task_id: taskId };
      return {
        kind: "outcome_recorded",
        task_id: taskId,
        entry: result.entry,
        ...(head ? { supersedes: head.completion_timestamp } : {}),
      };
    } catch (error) {
      // Another worker moved the task's outcome meanwhile: judge again from what is stored now.
      if (error instanceof ConflictError) throw new LostRound(error);
      throw error;
    }
  }

  /**
   * Writes the ledger entry the task's evidence implies, superseding the current one if it differs.
   * A round lost to a concurrent writer is judged again, up to {@link MAX_RECONCILE_ROUNDS} rounds
   * and never past the invocation's deadline (then the record fails and SQS retries it).
   */
  async function reconcile(taskId: string): Promise<Effect> {
    const outcome = await retry(() => reconcileOnce(taskId), {
      attempts: MAX_RECONCILE_ROUNDS,
      baseDelayMs: 0,
      maxDelayMs: 0,
      jitter: "none",
      isRetryable: (error) => error instanceof LostRound,
    });
    if (outcome.ok) return outcome.value;
    if (outcome.reason === "deadline") {
      throw new DeadlineExceededError(
        `outcome of ${taskId}: stopped after ${outcome.attempts} lost rounds, at the invocation's deadline`,
      );
    }
    throw outcome.error instanceof LostRound ? outcome.error.conflict : outcome.error;
  }

  async function applyEvidence(taskIds: string[], patch: EvidencePatch): Promise<Effect[]> {
    const effects: Effect[] = [];
    for (const taskId of taskIds) {
      const task = await tasks.applyEvidence(taskId, patch);
      effects.push(
        task
          ? await reconcile(taskId)
          : { kind: "ignored", task_id: taskId, reason: "not a marketplace task" },
      );
    }
    return effects;
  }

  async function perform(intent: Intent): Promise<Effect[]> {
    switch (intent.kind) {
      case "create_task": {
        const { ignored_labels: _ignored, ...task } = intent.task;
        const bidDeadline = new Date(now().getTime() + bidWindowSeconds * 1000).toISOString();
        try {
          const input = parseOrThrow(newTaskSchema, { ...task, bid_deadline: bidDeadline }, "task");
          // The new TASK item reaches bid dispatch through the table's stream (INSERT), which makes
          // dispatch at-least-once without a second write here.
          const { created } = await tasks.createTask(input);
          return [{ kind: "task_created", task_id: task.task_id, created }];
        } catch (error) {
          if (error instanceof ValidationError)
            return [{ kind: "ignored", task_id: task.task_id, reason: error.message }];
          throw error;
        }
      }
      case "link_pr": {
        // Evidence that reached the pull request before this link is copied to the newly linked tasks.
        const state = await webhookState.linkPullRequest(intent.pr, intent.taskIds);
        return [
          { kind: "pr_linked", pr: `${intent.pr.repoId}#${intent.pr.number}`, task_ids: state.taskIds },
          ...(await applyEvidence(intent.taskIds, state.evidence)),
        ];
      }
      case "evidence": {
        return applyEvidence(intent.taskIds, intent.patch);
      }
      case "evidence_for_pr": {
        const state = await webhookState.addPullRequestEvidence(intent.pr, intent.patch);
        if (state.taskIds.length === 0) {
          return [
            {
              kind: "ignored",
              reason: `pull request ${intent.pr.repoId}#${intent.pr.number} closes no known issue yet; evidence kept for it`,
            },
          ];
        }
        return applyEvidence(state.taskIds, intent.patch);
      }
      case "ignore":
        return [{ kind: "ignored", reason: intent.reason }];
    }
  }

  return {
    /** True when no repository allowlist is configured: deliveries from every repository count. */
    acceptsEveryRepository: allowedRepositories === undefined,

    /**
     * Processes one verified delivery. A delivery id already handled, or a body already handled under
     * another delivery id, is a duplicate. A repository outside the allowlist is recorded as `ignored`.
     * Permanent problems (a malformed payload, input that fails validation, an entity that does not
     * exist) are recorded on the delivery as `rejected` and acknowledged; anything thrown is transient
     * and the message is retried.
     */
    async process(message: IntakeMessage): Promise<DeliveryResult> {
      if (await webhookState.seen(message.delivery_id)) return { status: "duplicate", effects: [] };
      if (message.body_sha256) {
        const first = await webhookState.bodyClaimedBy(message.body_sha256);
        if (first !== undefined && first !== message.delivery_id) {
          return { status: "duplicate", effects: [], duplicate_of: first };
        }
      }
      const refusal = repositoryRefusal(message.payload);
      if (refusal) {
        const outcome = await webhookState.remember(deliveryRecord(message, "ignored", refusal));
        return outcome.remembered ? { status: "ignored", reason: refusal } : duplicateOf(outcome, []);
      }
      const effects: Effect[] = [];
      try {
        for (const intent of interpretDelivery(message.event, message.payload, options)) {
          effects.push(...(await perform(intent)));
        }
      } catch (error) {
        if (
          !(
            error instanceof MalformedPayloadError ||
            error instanceof ValidationError ||
            error instanceof NotFoundError
          )
        ) {
          throw error;
        }
        await webhookState.remember(deliveryRecord(message, "rejected", error.message));
        return { status: "rejected", reason: error.message };
      }
      const outcome = await webhookState.remember(deliveryRecord(message, "processed"));
      // A parallel duplicate lost the race to remember the delivery, but whatever it wrote itself
      // (idempotently) is still reported, so metrics count each recorded outcome once.
      return outcome.remembered ? { status: "processed", effects } : duplicateOf(outcome, effects);
    },
  };
}

function deliveryRecord(
  message: IntakeMessage,
  result: DeliveryRecord["result"],
  reason?: string,
): DeliveryRecord {
  // Both may quote the sender (the action, a repository name), so control characters are replaced.
  const action =
    typeof message.payload.action === "string"
      ? replaceControlCharacters(message.payload.action, "?").slice(0, 64)
      : undefined;
  return {
    delivery_id: message.delivery_id,
    event: message.event,
    ...(action ? { action } : {}),
    received_at: message.received_at,
    result,
    ...(reason ? { reason: replaceControlCharacters(reason, "?").slice(0, 1024) } : {}),
    ...(message.body_sha256 ? { body_sha256: message.body_sha256 } : {}),
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
