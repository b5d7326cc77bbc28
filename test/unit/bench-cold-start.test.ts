import { describe, expect, it } from "vitest";
import {
  type ColdStartReport,
  coldStartEnv,
  floorSource,
  median,
  parseRunnerOutput,
  renderColdStart,
  roundOrder,
  sdkClientsOf,
  usesDataModel,
} from "../../bench/cold-start.js";
import { FUNCTIONS } from "../../src/topology.js";

type Inputs = Parameters<typeof sdkClientsOf>[0]["inputs"];

const input = (imports: Array<{ path: string; external?: boolean }>): Inputs[string] => ({
  bytes: 1,
  imports: imports.map((i) => ({ kind: "import-statement" as const, ...i })),
});

describe("median", () => {
  it("takes the middle sample, or the mean of the middle two", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it("does not reorder its argument", () => {
    const samples = [3, 1, 2];
    median(samples);
    expect(samples).toEqual([3, 1, 2]);
  });
});

describe("SDK clients from a metafile", () => {
  it("finds bundled clients imported by the app and by other packages, not by the SDK itself", () => {
    const inputs: Inputs = {
      "src/adapters/dynamo/client.ts": input([
        { path: "node_modules/@aws-sdk/client-dynamodb/dist-es/index.js" },
        { path: "node_modules/@aws-sdk/lib-dynamodb/dist-es/index.js" },
        { path: "src/config.ts" },
      ]),
      "node_modules/@aws-lambda-powertools/parameters/lib/esm/secrets/SecretsProvider.js": input([
        { path: "node_modules/@aws-sdk/client-secrets-manager/dist-es/index.js" },
      ]),
      // The credential chain's own clients are not the function's.
      "node_modules/@aws-sdk/credential-provider-sso/dist-es/index.js": input([
        { path: "node_modules/@aws-sdk/client-sso/dist-es/index.js" },
      ]),
      "node_modules/@aws-sdk/client-dynamodb/dist-es/index.js": input([
        { path: "node_modules/@aws-sdk/client-sts/dist-es/index.js" },
      ]),
    };
    expect(sdkClientsOf({ inputs })).toEqual([
      "@aws-sdk/client-dynamodb",
      "@aws-sdk/client-secrets-manager",
      "@aws-sdk/lib-dynamodb",
    ]);
  });

  it("finds external clients by their specifier, subpaths included", () => {
    const inputs: Inputs = {
      "src/adapters/sqs/queue.ts": input([
        { path: "@aws-sdk/client-sqs", external: true },
        { path: "@aws-sdk/client-kms/dist-es/commands", external: true },
        { path: "@smithy/util-retry", external: true },
        { path: "@aws-sdk/util-dynamodb", external: true },
      ]),
    };
    expect(sdkClientsOf({ inputs })).toEqual(["@aws-sdk/client-kms", "@aws-sdk/client-sqs"]);
  });

  it("finds none in a bundle without the SDK", () => {
    expect(sdkClientsOf({ inputs: { "src/a.ts": input([{ path: "node_modules/zod/index.js" }]) } })).toEqual(
      [],
    );
  });
});

describe("floor source", () => {
  it("imports each client package and constructs one client of each", () => {
    const source = floorSource(["@aws-sdk/client-sqs", "@aws-sdk/lib-dynamodb"]);
    expect(source).toContain('import { DynamoDBClient } from "@aws-sdk/client-dynamodb";');
    expect(source).toContain('import { SQSClient } from "@aws-sdk/client-sqs";');
    expect(source).toContain('import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";');
    expect(source).toContain("new SQSClient({})");
    expect(source).toContain("DynamoDBDocumentClient.from(dynamoDBClient)");
    expect(source).toContain("export async function init()");
    expect(source.match(/new DynamoDBClient/g)).toHaveLength(1);
  });

  it("the data-model floor also builds the ElectroDB service, over the document client", () => {
    const source = floorSource(["@aws-sdk/lib-dynamodb"], { dataModel: true });
    expect(source).toMatch(
      /import \{ createMarketplaceService \} from ".*src\/adapters\/dynamo\/marketplace-service\.ts";/,
    );
    expect(source).toContain("createMarketplaceService({ client: documentClient");
    expect(floorSource(["@aws-sdk/lib-dynamodb"])).not.toContain("createMarketplaceService");
    expect(() => floorSource(["@aws-sdk/client-sqs"], { dataModel: true })).toThrow(/lib-dynamodb/);
  });

  it("gives a data-model floor only to bundles that carry ElectroDB", () => {
    const inputs = (...paths: string[]) =>
      Object.fromEntries(paths.map((path) => [path, { bytes: 1, imports: [] }])) as Inputs;
    expect(usesDataModel({ inputs: inputs("src/a.ts", "node_modules/electrodb/src/entity.js") })).toBe(true);
    expect(usesDataModel({ inputs: inputs("src/a.ts", "node_modules/zod/index.js") })).toBe(false);
  });

  it("is an empty init without clients and refuses a client it does not know", () => {
    expect(floorSource([])).toContain("return [];");
    expect(() => floorSource(["@aws-sdk/client-nonexistent"])).toThrow(/CLIENT_CLASSES/);
  });
});

describe("cold-start plumbing", () => {
  it("gives every function each variable it lists, fake credentials and a dead endpoint", () => {
    for (const fn of FUNCTIONS) {
      const env = coldStartEnv(fn);
      for (const key of fn.environment) expect(env[key], `${fn.id} ${key}`).toBeTruthy();
      expect(env.AWS_ENDPOINT_URL).toBe("http://127.0.0.1:9");
      expect(env.AWS_REGION).toBe("us-east-1");
      expect(env.AWS_ACCESS_KEY_ID).toBeTruthy();
      expect(env.NODE_OPTIONS).toBeUndefined();
    }
  });

  it("rotates the start of each round", () => {
    expect(roundOrder(["a", "b", "c"], 0)).toEqual(["a", "b", "c"]);
    expect(roundOrder(["a", "b", "c"], 4)).toEqual(["b", "c", "a"]);
    expect(roundOrder([], 3)).toEqual([]);
  });

  it("reads the runner's result after whatever the handler logged", () => {
    const stdout = `{"level":"INFO"}\n\n@@agentforge-cold-start@@{"initMs":12.5,"sinceProcessStartMs":40,"hasInit":true}\n`;
    expect(parseRunnerOutput(stdout)).toEqual({ initMs: 12.5, sinceProcessStartMs: 40, hasInit: true });
    expect(parseRunnerOutput("nothing\n")).toBeUndefined();
  });

  it("renders both modes and marks rows over the limit", () => {
    const mode = (initMs: number, floorMs: number) => ({
      bytes: 2048,
      gzipBytes: 1024,
      floorBytes: 1024,
      initMs,
      floorMs,
      ratio: initMs / floorMs,
      sinceProcessStartMs: initMs + 30,
      wallMs: initMs + 60,
      floorWallMs: floorMs + 60,
      overLimit: initMs / floorMs > 1.3,
    });
    const report: ColdStartReport = {
      node: "v24.0.0",
      runs: 10,
      ratioLimit: 1.3,
      rows: [
        {
          id: "fast",
          sdkClients: ["@aws-sdk/client-sqs"],
          hasInit: true,
          runs: 10,
          modes: {
            bundled: { ...mode(100, 90), model: { bytes: 4096, initMs: 95, ratio: 100 / 95 } },
            external: mode(200, 190),
          },
        },
        {
          id: "slow",
          sdkClients: [],
          hasInit: false,
          runs: 10,
          modes: { bundled: mode(300, 100), external: mode(200, 190) },
        },
      ],
    };
    const text = renderColdStart(report);
    expect(text).toContain("bundled SDK");
    expect(text).toContain("external SDK");
    const fast = text.split("\n").find((l) => l.startsWith("fast")) as string;
    const slow = text.split("\n").find((l) => l.startsWith("slow")) as string;
    expect(fast).toContain("1.11×");
    // The data-model floor's init and the ratio over it; "-" where a function has none.
    expect(fast).toContain("95.0");
    expect(fast).toContain("1.05×");
    expect(slow).toMatch(/ - +- /);
    expect(fast).not.toContain("!");
    expect(slow).toContain("3.00× !");
    expect(slow).toContain("2.0");
  });
});
