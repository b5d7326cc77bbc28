import { beforeAll, describe, expect, it } from "vitest";
import { createRestApi } from "../../src/http/rest-api.js";
import { createObservability } from "../../src/observability.js";
import { scanRaw, servicesFor, type TestTable, useTestTable } from "../helpers/dynamo.js";
import { agentInput } from "../helpers/factories.js";
import { apiPost, bodyOf, testAuthenticator } from "../helpers/http.js";

/** U+0000–U+001F, U+007F and the C1 controls U+0080–U+009F: everything `\p{Cc}` matches. */
const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)),
  "\u007f",
  "\u0080",
  "\u009f",
];
const hex = (c: string) => `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;

/** Where a control character goes in a field's otherwise valid value: in the middle, first, last. */
const placements = (value: string, c: string) => [
  `${value.slice(0, 3)}${c}${value.slice(3)}`,
  `${c}${value}`,
  `${value}${c}`,
];

/**
 * Every string field of `POST /agents` refuses a control character with 400 VALIDATION_FAILED naming
 * the field, and nothing is written: the table is read back raw (a Scan, without ElectroDB).
 */
describe("POST /agents refuses control characters in every string field", () => {
  let table: TestTable;
  let services: ReturnType<typeof servicesFor>;
  let api: ReturnType<typeof createRestApi>;

  beforeAll(async () => {
    table = await useTestTable();
    services = servicesFor(table);
    const { logger } = createObservability({ logLevel: "SILENT" });
    api = createRestApi({ ...services, authenticate: testAuthenticator(services.agentRepo), logger });
  });

  const rawItems = () => scanRaw(table);

  /** Each field with a valid value to corrupt, and where in the body it goes. */
  const fields: Array<[string, (c: string) => Array<[Record<string, unknown>, string]>]> = [
    ["agent_id", (c) => placements("agent-ctl", c).map((v) => [{ agent_id: v }, "agent_id"])],
    [
      "capabilities",
      (c) => placements("python", c).map((v) => [{ capabilities: ["go", v] }, "capabilities.1"]),
    ],
    ["cost_model", (c) => placements("green", c).map((v) => [{ cost_model: v }, "cost_model"])],
    [
      "bidding_endpoint (https)",
      (c) =>
        placements("https://agent.example/bids", c).map((v) => [{ bidding_endpoint: v }, "bidding_endpoint"]),
    ],
    [
      "bidding_endpoint (SQS)",
      (c) =>
        placements("https://sqs.us-east-1.amazonaws.com/123456789012/agent-bids", c).map((v) => [
          { bidding_endpoint: v },
          "bidding_endpoint",
        ]),
    ],
    [
      "wallet_address",
      (c) => placements("wallet-1", c).map((v) => [{ wallet_address: v }, "wallet_address"]),
    ],
    ["status", (c) => placements("active", c).map((v) => [{ status: v }, "status"])],
  ];

  it.each(fields)("%s: 400 naming the field, nothing stored", async (_label, cases) => {
    for (const c of CONTROLS) {
      for (const [override, path] of cases(c)) {
        const input = agentInput(override);

        const response = await api(apiPost("/agents", JSON.stringify(input)));

        expect(response.statusCode, `${path} with ${hex(c)}`).toBe(400);
        const { error } = bodyOf(response);
        expect(error.code).toBe("VALIDATION_FAILED");
        expect(error.details.map((d: { path: string }) => d.path)).toContain(path);
      }
    }
    const stored = await rawItems();
    expect(stored).toEqual([]);
  });

  it("an update with a control character leaves the stored profile as it was", async () => {
    const input = agentInput({ bidding_endpoint: "https://agent.example/bids" });
    const created = await api(apiPost("/agents", JSON.stringify(input)));
    expect(created.statusCode).toBe(201);
    const before = await rawItems();

    const refused = await Promise.all(
      [
        { bidding_endpoint: "https://agent.example/bids\u0000" },
        { bidding_endpoint: "https://agent.example/b\tids" },
        { wallet_address: "w\u0000" },
        { capabilities: ["python\n"] },
      ].map((override) => api(apiPost("/agents", JSON.stringify({ ...input, ...override })))),
    );

    expect(refused.map((r) => r.statusCode)).toEqual([400, 400, 400, 400]);
    const after = await rawItems();
    expect(after).toEqual(before);
    expect(JSON.stringify(after)).not.toMatch(/\\u00[0-1][0-9a-f]|\\u007f/i);
  });
});
