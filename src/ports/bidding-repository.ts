import type { BidRejection, DeliveryResult, DeliveryStatus } from "../domain/bidding/bidding.types.js";

/** Persistence for the bidding round of a task: invitations, answers, rejections and notices. */
export interface BiddingRepository {
  /**
   * Creates an INVITED bid item for each agent not invited yet (one conditional write each, so a
   * re-run of dispatch never resets an answer). Returns the ids that were newly invited.
   */
  invite(taskId: string, agentIds: string[]): Promise<string[]>;

  /** Records the bid request's delivery result (DELIVERED/FAILED, attempts, error) on the bid item. */
  recordDelivery(taskId: string, agentId: string, result: DeliveryResult): Promise<void>;

  /**
   * Stores the agent's bid, replacing its earlier answer, in one transaction that checks the task is
   * still OPEN. Throws ConflictError("BIDDING_CLOSED") when it is not, and
   * ConflictError("NOT_INVITED") when the agent has no bid item.
   */
  acceptBid(
    taskId: string,
    agentId: string,
    bid: { bid_amount: number; estimated_completion_sec: number },
  ): Promise<void>;

  /** Stores a DECLINE under the same conditions as {@link acceptBid}. */
  declineBid(taskId: string, agentId: string): Promise<void>;

  /** Records a refused agent message on the task (expires with TTL). */
  recordRejection(rejection: Omit<BidRejection, "type">): Promise<void>;

  /**
   * Stores the winner's actual cost on the award. Throws ConflictError("NOT_AWARDED") unless the
   * task is awarded to `agentId`.
   */
  recordCostReport(taskId: string, agentId: string, actualCost: number): Promise<void>;

  /** OPEN → NO_BIDS and closes the bid window; `false` when the task was no longer OPEN. */
  closeWithoutBids(taskId: string): Promise<boolean>;

  /** Records the award or rejection notice sent to a bidder and whether it was delivered. */
  recordNotice(
    taskId: string,
    agentId: string,
    notice: "AWARD" | "REJECTION",
    status: DeliveryStatus,
  ): Promise<void>;
}
