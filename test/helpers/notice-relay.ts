import type { MarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import type { DeliveryOutcome } from "../../src/domain/bidding/delivery.service.js";
import {
  createDispatchService,
  type DispatchService,
  type NotifySummary,
} from "../../src/domain/bidding/dispatch.service.js";
import type { BackoffOptions } from "../../src/domain/bidding/retry.js";
import type { AgentRepository } from "../../src/ports/agent-repository.js";
import type { AwardTrigger } from "../../src/ports/award-trigger.js";
import type { BiddingRepository } from "../../src/ports/bidding-repository.js";
import type { EndpointSender } from "../../src/ports/endpoint-sender.js";
import type { TaskRepository } from "../../src/ports/task-repository.js";
import { type TestDelivery, useTestDelivery } from "./delivery.js";
import type { TestQueue } from "./sqs.js";

export interface NoticeRelayOptions {
  agents: AgentRepository;
  bidding: BiddingRepository;
  tasks: TaskRepository;
  sender: EndpointSender;
  /** The bids queue URL, the notices' `reply_to`. */
  bidsQueueUrl: string;
  /** Only asked after a bid request fails; notices never ask it (default: does nothing). */
  awards?: AwardTrigger;
  retry?: Partial<BackoffOptions>;
}

export interface NoticeRelay {
  dispatcher: DispatchService;
  delivery: TestDelivery;
  /**
   * What the deployed stack does once a task is decided: the table stream sees its AWARD item become
   * AWARDED (or the task become NO_BIDS) and puts `{ task_id, kind: "notify" }` on the dispatch queue,
   * the dispatch worker plans the notices still owed (`DispatchService.notify`), and the delivery
   * worker signs and sends each. In process: `notify`, then deliver everything on the delivery queue.
   */
  relay(taskId: string): Promise<{ summary: NotifySummary; outcomes: DeliveryOutcome[] }>;
}

/** The notice path (dispatch service → delivery queue → delivery worker) over a test delivery queue. */
export function useNoticeRelay(
  queue: TestQueue,
  service: MarketplaceService,
  {
    agents,
    bidding,
    tasks,
    sender,
    bidsQueueUrl,
    awards = { awardIfDue: async () => {} },
    retry,
  }: NoticeRelayOptions,
): NoticeRelay {
  const delivery = useTestDelivery(queue, service, {
    agents,
    bidding,
    sender,
    awards,
    retry: { baseDelayMs: 1, maxDelayMs: 5, ...retry },
  });
  const dispatcher = createDispatchService({
    agents,
    bidding,
    tasks,
    deliveries: delivery.deliveries,
    bidsQueueUrl,
  });
  return {
    dispatcher,
    delivery,
    async relay(taskId) {
      const summary = await dispatcher.notify(taskId);
      return { summary, outcomes: await delivery.deliverAll() };
    },
  };
}
