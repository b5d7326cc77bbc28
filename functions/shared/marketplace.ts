import type { Logger } from "@aws-lambda-powertools/logger";
import { deferredCipher, sharedBidSecretCipher } from "../../src/adapters/crypto/bid-secret-cipher.js";
import { createAgentRepository } from "../../src/adapters/dynamo/agent.repository.js";
import { createBiddingRepository } from "../../src/adapters/dynamo/bidding.repository.js";
import { createEndpointCircuitRepository } from "../../src/adapters/dynamo/endpoint-circuit.repository.js";
import { createMarketplaceService } from "../../src/adapters/dynamo/marketplace-service.js";
import { createNonceRepository } from "../../src/adapters/dynamo/nonce.repository.js";
import { createTaskRepository } from "../../src/adapters/dynamo/task.repository.js";
import { createWebhookStateRepository } from "../../src/adapters/dynamo/webhook-state.repository.js";
import {
  createEndpointSender,
  createHttpsEndpointSender,
} from "../../src/adapters/endpoints/https-endpoint-sender.js";
import { createSqsEndpointSender } from "../../src/adapters/endpoints/sqs-endpoint-sender.js";
import { createSqsAwardQueue } from "../../src/adapters/sqs/award-queue.js";
import type { Config } from "../../src/config.js";
import { createAgentService } from "../../src/domain/agents/agent.service.js";
import { createAwardService } from "../../src/domain/bidding/award.service.js";
import { createQueuedAwardTrigger } from "../../src/domain/bidding/award-due.js";
import { createApprovalPolicy } from "../../src/domain/governance/approval-policy.js";
import { lazySync } from "../../src/lib/lazy.js";
import type { AwardTrigger } from "../../src/ports/award-trigger.js";
import { required } from "./core.js";
import { dynamoClient } from "./dynamo.js";
import { sqsClient, sqsClientForRegion } from "./sqs.js";

/**
 * The marketplace table through ElectroDB, and the services over it that several functions share.
 * Only builders of functions that use the table through ElectroDB import this module.
 */

export type Repositories = ReturnType<typeof buildRepositories>;

/** The repositories over the marketplace table; each is built on first use, over the core's client. */
export function buildRepositories(config: Config) {
  const service = lazySync(() =>
    createMarketplaceService({ client: dynamoClient(config), table: config.tableName }),
  );
  const agents = lazySync(() =>
    // Built on first use, so functions that never touch bid secrets need no key (see requireBidSecretKey).
    createAgentRepository({
      service: service(),
      secrets: deferredCipher(() => sharedBidSecretCipher(config)),
    }),
  );
  const tasks = lazySync(() => createTaskRepository({ service: service() }));
  const bidding = lazySync(() => createBiddingRepository({ service: service() }));
  const nonces = lazySync(() => createNonceRepository({ service: service() }));
  const circuit = lazySync(() =>
    createEndpointCircuitRepository({
      service: service(),
      failureThreshold: config.circuitFailureThreshold,
      cooldownMs: config.circuitCooldownSeconds * 1000,
    }),
  );
  const webhookState = lazySync(() =>
    createWebhookStateRepository({ service: service(), deliveryTtlSeconds: config.deliveryTtlSeconds }),
  );
  return {
    get agents() {
      return agents();
    },
    get tasks() {
      return tasks();
    },
    get bidding() {
      return bidding();
    },
    get nonces() {
      return nonces();
    },
    /** The agents' endpoint circuits (CIRCUIT_FAILURE_THRESHOLD, CIRCUIT_COOLDOWN_SECONDS). */
    get circuit() {
      return circuit();
    },
    get webhookState() {
      return webhookState();
    },
  };
}

/**
 * Functions that sign or verify agent messages build the bid-secret cipher at cold start, so a
 * missing or unreadable key (BID_SECRET_KMS_KEY_ID / BID_SECRET_KEY_FILE) fails loudly there.
 */
export function requireBidSecretKey(config: Config): void {
  sharedBidSecretCipher(config);
}

/** Routes marketplace messages to agents: SQS queues, and SSRF-guarded signed HTTPS (loopback only locally). */
export function buildEndpointSender(config: Config) {
  return createEndpointSender({
    sqs: createSqsEndpointSender({
      client: sqsClient(config),
      ...(() => {
        const forRegion = sqsClientForRegion(config);
        return forRegion ? { clientForRegion: forRegion } : {};
      })(),
    }),
    https: createHttpsEndpointSender({ allowLoopback: config.local }),
  });
}

/** The agent service (registration, profiles, keys), as the REST API uses it. */
export function buildAgentService(config: Config, repositories: Repositories) {
  return createAgentService({
    agents: repositories.agents,
    apiKeyOverlapSeconds: config.apiKeyOverlapSeconds,
    secretRotationOverlapSeconds: config.secretRotationOverlapSeconds,
    endpointPolicy: {
      allowLoopback: config.local,
      forbiddenAccountIds: config.marketplaceAccountId ? [config.marketplaceAccountId] : [],
    },
  });
}

/**
 * How the bid and delivery workers ask for an early award: deployed, an "award due" message on the
 * award queue (AWARD_QUEUE_URL); locally without one (tests that wire workers alone), the award
 * service in process.
 */
export function buildAwardTrigger(config: Config, logger: Logger, repositories: Repositories): AwardTrigger {
  if (config.awardQueueUrl || !config.local) {
    return createQueuedAwardTrigger({
      bidding: repositories.bidding,
      queue: createSqsAwardQueue({
        client: sqsClient(config),
        queueUrl: required(config.awardQueueUrl, "AWARD_QUEUE_URL"),
      }),
    });
  }
  return buildAwardService(config, logger, repositories);
}

/** The award service: the award worker and the sweeper award with it, approvals re-award on a rejection. */
export function buildAwardService(
  config: Config,
  logger: Logger,
  repositories: Repositories = buildRepositories(config),
) {
  return createAwardService({
    tasks: repositories.tasks,
    bidding: repositories.bidding,
    agents: repositories.agents,
    approval: createApprovalPolicy(
      config.approvalThreshold !== undefined ? { threshold: config.approvalThreshold } : {},
    ),
    logger,
  });
}
