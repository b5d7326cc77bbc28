import { startDynamoDbLocal } from "../src/local/dynamodb-local.js";
import { TEST_OPERATOR } from "../test/helpers/principals.js";
import { openBenchTable } from "./bench-table.js";
import { BIDDERS, type Bidder, bidPipelineNotes, measureBidPipeline, renderBidding } from "./bidding.js";
import { registration } from "./fixtures.js";
import { heading } from "./report.js";

/**
 * The bid pipeline section alone (`npm run bench -- --bidding`): its own DynamoDB Local and table,
 * {@link BIDDERS} agents registered through the agent service, then the same two figures the full
 * bench prints (bench/bidding.ts). About a minute instead of the full bench's several.
 */
export async function bidPipelineSection(log: (message: string) => void): Promise<string> {
  log("starting DynamoDB Local (in memory)");
  const local = await startDynamoDbLocal();
  try {
    const table = await openBenchTable(local.endpoint);
    try {
      log(`registering ${BIDDERS} bidders`);
      const bidders: Bidder[] = [];
      for (let i = 0; i < BIDDERS; i++) {
        const id = `bench-bidder-${String(i).padStart(3, "0")}`;
        const { secret } = await table.agents.register(registration(id, ["python"]), TEST_OPERATOR);
        if (!secret) throw new Error(`${id} was already registered`);
        bidders.push({ id, secret });
      }
      const { bidThroughput, dispatch } = await measureBidPipeline({ ...table, log }, bidders);
      return [
        heading("Bid pipeline: bids accepted per second, worker vs direct-write floor; dispatch latency"),
        ...renderBidding(bidThroughput, dispatch),
        "\nNotes:",
        ...bidPipelineNotes(bidThroughput).map((note) => `  - ${note}`),
        "",
      ].join("\n");
    } finally {
      table.destroy();
    }
  } finally {
    log("stopping DynamoDB Local");
    await local.stop();
  }
}
