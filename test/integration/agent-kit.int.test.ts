import { type Message, SendMessageCommand } from "@aws-sdk/client-sqs";
import { describe, expect, it } from "vitest";
import { type AgentEvent, startAgent } from "../../examples/agent/src/agent.js";
import { SIGNATURE_ATTRIBUTE, verifySignature } from "../../examples/agent/src/protocol.js";
import { agentMessageSchema } from "../../src/domain/bidding/messages.js";
import { sealedMarketplaceMessage } from "../helpers/agent-messages.js";
import { useTestQueue } from "../helpers/sqs.js";

const SECRET = "kit-int-secret";
const TASK = "https://github.com/o/r/issues/77";

/**
 * The agent kit as an agent developer runs it, on the SQS emulator: its own queue receives a sealed
 * BID_REQUEST, and a sealed BID that the marketplace's schema and the agent's secret accept appears on
 * the reply queue. Nothing of the marketplace runs here.
 */
describe("agent kit on the SQS emulator", () => {
  it("answers a sealed BID_REQUEST on its queue with a verifiable sealed BID on reply_to, once", async () => {
    const inbox = await useTestQueue("kit-agent");
    const bids = await useTestQueue("kit-bids");
    const events: AgentEvent[] = [];
    const agent = startAgent({
      agentId: "kit-int-agent",
      sqs: inbox.client,
      queueUrl: inbox.queueUrl,
      secret: SECRET,
      // Short poll: the emulator's long poll can hand one message to two receives.
      waitSeconds: 0,
      idleMs: 50,
      answer: () => ({ type: "BID", bid_amount: 42.5, estimated_completion_sec: 1800 }),
      actualCost: () => 40,
      onEvent: (event) => events.push(event),
    });
    const request = (title: string) =>
      sealedMarketplaceMessage(
        {
          type: "BID_REQUEST",
          task_id: TASK,
          agent_id: "kit-int-agent",
          title,
          capabilities: ["python"],
          budget: 100,
          deadline: new Date(Date.now() + 60_000).toISOString(),
          reply_to: bids.queueUrl,
        },
        SECRET,
      );
    const sealed = request("Fix the flaky test");

    try {
      await inbox.client.send(
        new SendMessageCommand({
          QueueUrl: inbox.queueUrl,
          MessageBody: sealed.body,
          MessageAttributes: sealed.attributes,
        }),
      );
      // At-least-once: the marketplace may send the request again (a fresh envelope), and a captured
      // copy may be re-sent as is.
      const again = request("Fix the flaky test");
      for (const copy of [again, sealed]) {
        await inbox.client.send(
          new SendMessageCommand({
            QueueUrl: inbox.queueUrl,
            MessageBody: copy.body,
            MessageAttributes: copy.attributes,
          }),
        );
      }
      await expect.poll(() => events.filter((e) => e.kind !== "sent").length, { timeout: 15_000 }).toBe(3);
    } finally {
      await agent.stop();
    }

    const replies: Message[] = await bids.drain();
    expect(replies).toHaveLength(1);
    const [bid] = replies;
    const signature = bid?.MessageAttributes?.[SIGNATURE_ATTRIBUTE]?.StringValue;
    expect(verifySignature(SECRET, bid?.Body ?? "", signature)).toBe(true);
    expect(agentMessageSchema.parse(JSON.parse(bid?.Body ?? "{}"))).toMatchObject({
      type: "BID",
      task_id: TASK,
      agent_id: "kit-int-agent",
      bid_amount: 42.5,
      estimated_completion_sec: 1800,
      sent_at: expect.any(String),
      nonce: expect.any(String),
    });
    expect(events.map((e) => (e.kind === "refused" ? `refused ${e.reason}` : e.kind))).toEqual([
      "received",
      "sent",
      "received",
      "refused REPLAY",
    ]);
    // Every message was deleted: nothing comes back after the visibility timeout.
    expect(await inbox.drain()).toEqual([]);
  });
});
