/**
 * A runnable agent: bids a fixed price on every task within budget and reports a fixed share of it
 * as its cost. Configured by environment variables (see README.md); stops on Ctrl-C or SIGTERM.
 */
import { SQSClient } from "@aws-sdk/client-sqs";
import { type AgentEvent, startAgent } from "./agent.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`Set ${name}`);
  return value;
}

function number(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number`);
  return value;
}

function describe(event: AgentEvent): string {
  switch (event.kind) {
    case "received":
      return `← ${event.message.type} ${event.message.task_id}`;
    case "sent": {
      const m = event.message;
      const detail =
        m.type === "BID" ? ` ${m.bid_amount}` : m.type === "COST_REPORT" ? ` ${m.actual_cost}` : "";
      return `→ ${m.type}${detail} ${m.task_id}`;
    }
    case "refused":
      return `! refused (${event.reason}): ${event.detail}`;
    case "failed":
      return `! failed: ${event.error.message}`;
  }
}

const agentId = required("AGENT_ID");
const price = number("AGENT_BID_PRICE", 50);
const estimatedSeconds = Math.round(number("AGENT_ETA_SECONDS", 3600));
const costRatio = number("AGENT_COST_RATIO", 0.9);
const endpoint = process.env.AGENT_SQS_ENDPOINT;
const sqs = new SQSClient({
  region: process.env.AWS_REGION ?? "us-east-1",
  ...(endpoint ? { endpoint } : {}),
});

const agent = startAgent({
  agentId,
  sqs,
  queueUrl: required("AGENT_QUEUE_URL"),
  secret: required("AGENT_BID_SECRET"),
  ...(process.env.AGENT_BID_SECRET_PREVIOUS ? { previousSecret: process.env.AGENT_BID_SECRET_PREVIOUS } : {}),
  waitSeconds: number("AGENT_WAIT_SECONDS", 20),
  answer: (request) =>
    request.budget !== null && price > request.budget
      ? { type: "DECLINE" }
      : { type: "BID", bid_amount: price, estimated_completion_sec: estimatedSeconds },
  actualCost: (award) => Math.round(award.bid_amount * costRatio * 100) / 100,
  onEvent: (event) => console.log(`[${agentId}] ${describe(event)}`),
});
console.log(`[${agentId}] polling ${process.env.AGENT_QUEUE_URL}; Ctrl-C stops`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void agent.stop().then(() => sqs.destroy());
  });
}
