/**
 * Public on-demand prices the delivery bench's cost model uses (bench/delivery.ts): ONE region,
 * US East (N. Virginia), us-east-1, in US dollars, first volume tier, free tiers ignored. Every other
 * file takes its prices from here.
 *
 * Read on 2026-12-07 through the search tool's stored copies of public pages. The official pricing
 * pages (https://aws.amazon.com/dynamodb/pricing/on-demand/, https://aws.amazon.com/sqs/pricing/,
 * https://aws.amazon.com/lambda/pricing/) were found, but their price tables are filled in by script
 * and the stored text holds no figures, so none of the numbers below could be read off an AWS page
 * itself. Each comes from the secondary pages named beside it, which agree with one another; check
 * them against the AWS pages before relying on them.
 */
export const PRICES = {
  region: "us-east-1",
  readOn: "2026-12-07",
  dynamodb: {
    /**
     * On-demand, Standard table class, per million write request units (1 KB per unit, ×2 in a
     * transaction). $0.625 since the 50 % cut of 1 November 2024 — airbyte.com/data-engineering-resources/dynamodb-pricing
     * ("Write Request Units (WRU): $0.625 per million", US East, page of July 2025); the cut itself
     * also on jusdb.com/blog/dynamodb-cost-optimization-a-comprehensive-guide-by-jusdb (August 2025).
     * Not confirmed on an AWS page.
     */
    perMillionWru: 0.625,
    /** Per million read request units (4 KB strongly consistent = 1, eventual = 0.5, transactional = 2). Same sources. Not confirmed on an AWS page. */
    perMillionRru: 0.125,
  },
  sqs: {
    /**
     * Standard queues, per million requests (1 M to 100 B requests a month; every 64 KiB chunk of a
     * payload is one request): cloudburn.io/blog/amazon-sqs-pricing ("All prices are for US East
     * (N. Virginia) as of March 2026"), factualminds.com/blog/amazon-sqs-pricing-64kb-rule-fifo-vs-standard
     * (June 2026), unanswered.io/guide/aws-sqs-pricing-and-cost-optimization. Not confirmed on an AWS page.
     */
    perMillionStandard: 0.4,
    /** FIFO queues, per million requests: same three pages ($0.50). Not confirmed on an AWS page. */
    perMillionFifo: 0.5,
    /** Bytes of payload billed as one request. */
    chunkBytes: 64 * 1024,
  },
  lambda: {
    /**
     * Arm (arm64, what the stack deploys), first tier (7.5 billion GB-s a month), per GB-second:
     * cloudchipr.com/blog/aws-lambda-pricing ("ARM Pricing — First 7.5 Billion GB-seconds per month:
     * $0.0000133334 per GB-second", US East (N. Virginia)), and the table of
     * git.mcrn.ar/mariano/lambda_local_runner docs/lambdas-md/lambda-13-cost.md. Not confirmed on an AWS page.
     */
    perGbSecondArm: 0.0000133334,
    /** Per million requests (invocations), both architectures: the same two pages ($0.20). Not confirmed on an AWS page. */
    perMillionRequests: 0.2,
  },
} as const;
