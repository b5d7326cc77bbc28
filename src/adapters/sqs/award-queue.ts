import { createHash } from "node:crypto";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { AwardDueQueue } from "../../ports/award-trigger.js";
import { sendInBatches } from "./batch-send.js";

export interface SqsAwardQueueOptions {
  client: SQSClient;
  /** A FIFO queue (`.fifo`): its deduplication makes "award due" one message per task per 5 minutes. */
  queueUrl: string;
}

/** SQS caps deduplication and group ids at 128 characters; a task URL may be longer. */
function taskKey(taskId: string): string {
  return createHash("sha256").update(taskId).digest("base64url");
}

/**
 * The award queue: "award due" messages `{"task_id"}` on a FIFO queue whose deduplication id and
 * group are the task, so however many bid batches and failed deliveries find a task due at once, the
 * award worker gets it once (SQS drops duplicates sent within its 5-minute window) and one task's
 * award never waits behind another's.
 */
export function createSqsAwardQueue({ client, queueUrl }: SqsAwardQueueOptions): AwardDueQueue {
  return {
    async awardDue(taskIds) {
      const unique = [...new Set(taskIds)];
      if (unique.length === 0) return;
      await sendInBatches(
        client,
        queueUrl,
        unique.map((taskId, index) => ({
          Id: String(index),
          MessageBody: JSON.stringify({ task_id: taskId }),
          MessageGroupId: taskKey(taskId),
          MessageDeduplicationId: taskKey(taskId),
        })),
      );
    },
  };
}
