import { describe, expect, it } from "vitest";
import { latestReceiptPerMessage } from "../../src/local/sqs-event-source.js";

describe("latestReceiptPerMessage", () => {
  it("keeps one record per message, with the newest receipt handle, in order of the last receipt", () => {
    const messages = [
      { MessageId: "a", ReceiptHandle: "a-1", Body: "A" },
      { MessageId: "b", ReceiptHandle: "b-1", Body: "B" },
      { MessageId: "a", ReceiptHandle: "a-2", Body: "A" },
    ];
    expect(latestReceiptPerMessage(messages)).toEqual([
      { MessageId: "b", ReceiptHandle: "b-1", Body: "B" },
      { MessageId: "a", ReceiptHandle: "a-2", Body: "A" },
    ]);
    expect(latestReceiptPerMessage([])).toEqual([]);
  });
});
