import type { BidRejection, DeliveryResult, DeliveryStatus } from "../domain/bidding/bidding.types.js";
import type { Bid, Task } from "../domain/tasks/task.types.js";
import type { NonceClaim } from "./nonce-store.js";

/** What the bid worker needs to judge one agent's message: the task and that agent's bid item. */
export interface BiddingState {
  task: Task;
  /** The agent's bid item, if it was invited (at most one element). */
  bids: Bid[];
}

/** Persistence for the bidding round of a task: invitations, answers, rejections and notices. */
export interface BiddingRepository {
  /**
   * The task and, when `agentId` is given, that agent's bid item, with two strongly consistent
   * GetItems: a bid never pays for reading the rest of the task's partition. `undefined`: no task.
   */
  getBiddingState(taskId: string, agentId?: string): Promise<BiddingState | undefined>;

  /**
   * Creates an INVITED bid item for each agent not invited yet (conditional writes, so a re-run of
   * dispatch never resets an answer), adding each to the task's `invited_count` in the same
   * transaction. Returns the ids that were newly invited. NotFoundError when the task does not exist.
   */
  invite(taskId: string, agentIds: string[]): Promise<string[]>;

  /**
   * Records the bid request's final delivery result (DELIVERED/FAILED, attempts, error) on the bid
   * item. The first failure of an invitation that holds no answer yet also counts it as not
   * answering: `counted_unreachable` on the item and `ADD unreachable_count 1` on the task, in one
   * transaction, so the early award does not wait for it. Resolves `true` exactly when this call
   * counted it (then the task may have become due for its award).
   */
  recordDelivery(taskId: string, agentId: string, result: DeliveryResult): Promise<boolean>;

  /**
   * Stores the agent's bid, replacing its earlier answer, in one transaction that checks the task is
   * still OPEN. The first answer of an INVITED item also adds one to the task's `answered_count` in
   * that transaction (a revision or a redelivery does not), so the early award reads one counter.
   * No read precedes the write; a refused write reads the task and the bid item and passes them on
   * the ConflictError as `details.state` ({@link BiddingState}), so the caller can say why. Answers are ordered by `message_sent_at` (the message's own signed `sent_at`) when
   * given, else by `sent_at` (when the queue accepted it): an answer not newer than the stored one is
   * refused with ConflictError("SUPERSEDED"). Throws ConflictError("BIDDING_CLOSED") when the task is
   * not OPEN, ConflictError("NOT_INVITED") when the agent has no bid item. With `nonce`, the message's
   * nonce is claimed in the same transaction: ConflictError("REPLAY") when another message used it.
   */
  acceptBid(
    taskId: string,
    agentId: string,
    bid: {
      bid_amount: number;
      estimated_completion_sec: number;
      sent_at: string;
      message_sent_at?: string;
      nonce?: NonceClaim;
      /**
       * Also refuse, in the same conditional write, an answer whose `sent_at` is past the task's
       * `bid_deadline` (ConflictError("LATE")) or a bid over its `budget` (ConflictError("OVER_BUDGET")),
       * so no read of the task is needed before the write.
       */
      enforce_limits?: boolean;
    },
  ): Promise<void>;

  /** Stores a DECLINE under the same conditions as {@link acceptBid}. */
  declineBid(
    taskId: string,
    agentId: string,
    sentAt: string,
    signed?: { message_sent_at: string; nonce?: NonceClaim; enforce_limits?: boolean },
  ): Promise<void>;

  /** Records a refused agent message on the task (expires with TTL). */
  recordRejection(rejection: Omit<BidRejection, "type">): Promise<void>;

  /**
   * Stores the winner's actual cost on the award. Throws ConflictError("NOT_AWARDED") unless the
   * task is awarded to `agentId`, and ConflictError("SUPERSEDED") when a report with a later (or the
   * same) `sentAt` is already stored: an older report never overwrites a newer one.
   */
  recordCostReport(taskId: string, agentId: string, actualCost: number, sentAt?: string): Promise<void>;

  /**
   * OPEN → CLOSING: stops taking bids so the award ranks a final set. `false` when the task was not
   * OPEN (another run got there first, or it is decided).
   */
  beginClosing(taskId: string): Promise<boolean>;

  /** CLOSING → NO_BIDS, deleting the bid window in the same transaction; `false` when the task was not CLOSING. */
  closeWithoutBids(taskId: string): Promise<boolean>;

  /** Records the award or rejection notice sent to a bidder and whether it was delivered. */
  recordNotice(
    taskId: string,
    agentId: string,
    notice: "AWARD" | "REJECTION",
    status: DeliveryStatus,
  ): Promise<void>;
}
