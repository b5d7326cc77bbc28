import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  DEFAULT_DATA_DIR,
  LocalStackError,
  loadOrCreateSecrets,
  readEndpoints,
  readSecrets,
  resolveDataDir,
  writeEndpoints,
} from "../../src/local/stack-files.js";

describe("local stack files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "agentforge-files-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("resolves the data directory from AGENTFORGE_DATA_DIR, else .agentforge", () => {
    expect(resolveDataDir({})).toBe(resolve(DEFAULT_DATA_DIR));
    expect(resolveDataDir({ AGENTFORGE_DATA_DIR: "  " })).toBe(resolve(DEFAULT_DATA_DIR));
    expect(resolveDataDir({ AGENTFORGE_DATA_DIR: dir })).toBe(dir);
  });

  it("generates missing secrets once, saves them 0600 and keeps them on the next start", async () => {
    const first = loadOrCreateSecrets(dir, {});
    expect(first.generated.sort()).toEqual(["api_token", "audit_hmac_key", "github_webhook_secret"]);
    expect(first.secrets.audit_hmac_key.length).toBeGreaterThanOrEqual(32);
    expect((await stat(join(dir, "secrets.json"))).mode & 0o777).toBe(0o600);

    const second = loadOrCreateSecrets(dir, {});
    expect(second.generated).toEqual([]);
    expect(second.secrets).toEqual(first.secrets);
    expect(readSecrets(dir)).toEqual(first.secrets);
  });

  it("lets the environment override a saved secret and saves the override", () => {
    const { secrets: saved } = loadOrCreateSecrets(dir, {});
    const { secrets, generated } = loadOrCreateSecrets(dir, { AGENTFORGE_API_TOKEN: "from-env" });
    expect(generated).toEqual([]);
    expect(secrets).toEqual({ ...saved, api_token: "from-env" });
    expect(readSecrets(dir).api_token).toBe("from-env");
  });

  it("refuses a short audit key with the fix", () => {
    expect(() => loadOrCreateSecrets(dir, { AUDIT_HMAC_KEY: "short" })).toThrow(LocalStackError);
    expect(() => loadOrCreateSecrets(dir, { AUDIT_HMAC_KEY: "short" })).toThrow(/at least 32 characters/);
  });

  it("names the file and the fix when a file is missing, not JSON or malformed", async () => {
    expect(() => readEndpoints(dir)).toThrow(
      /endpoints file not found at .*endpoints\.json: start the stack with `npm start`/,
    );
    await writeFile(join(dir, "secrets.json"), "{");
    expect(() => loadOrCreateSecrets(dir, {})).toThrow(/is not valid JSON: delete/);
    await writeFile(join(dir, "secrets.json"), JSON.stringify({ api_token: 42 }));
    expect(() => loadOrCreateSecrets(dir, {})).toThrow(/malformed \(api_token: /);
  });

  it("round-trips endpoints through an atomic write", async () => {
    const endpoints = {
      api_url: "http://127.0.0.1:3000",
      dynamodb_endpoint: "http://127.0.0.1:8000",
      sqs_endpoint: "http://127.0.0.1:9324",
      table_name: "AgentForge-Marketplace",
      bids_queue_url: "http://127.0.0.1:9324/123456789012/agentforge-bids",
      intake_queue_url: "http://127.0.0.1:9324/123456789012/agentforge-intake",
      dispatch_queue_url: "http://127.0.0.1:9324/123456789012/agentforge-dispatch",
      region: "us-east-1",
      data_dir: dir,
      in_memory: false,
      pid: 4242,
      started_at: "2031-01-01T00:00:00.000Z",
    };
    writeEndpoints(dir, endpoints);
    expect(readEndpoints(dir)).toEqual(endpoints);
    expect(JSON.parse(await readFile(join(dir, "endpoints.json"), "utf8"))).toEqual(endpoints);
  });
});
