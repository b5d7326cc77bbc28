import { defineConfig } from "vitest/config";

/**
 * Every test process gets fake credentials and a dead default endpoint, so an SDK client that was
 * not pointed at a local emulator fails on loopback instead of ever reaching AWS.
 */
const offlineEnv = {
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_SESSION_TOKEN: "",
  AWS_PROFILE: "",
  AWS_REGION: "local",
  AWS_ENDPOINT_URL: "http://127.0.0.1:9",
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};

// The global setup (DynamoDB Local) runs in the main process, which `env` below does not reach.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export default defineConfig({
  test: {
    env: offlineEnv,
    // Three files at once: vitest's default on two cores is one worker, but most integration files
    // wait on DynamoDB Local, child processes and polls rather than the CPU. Measured on this 2-core
    // machine, the whole suite with DATABASE_URL: 298 s with two, 247 s with three, 254 s with four.
    // VITEST_MAX_WORKERS overrides it.
    maxWorkers: Number(process.env.VITEST_MAX_WORKERS ?? 3),
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts", "test/infra/**/*.test.ts"],
          env: offlineEnv,
          // Pure logic and CDK synthesis: one module graph per worker instead of one per file (the unit
          // project takes 17 s instead of 40; most of that was re-importing the SDK, ElectroDB and CDK).
          // These tests keep no state between files; stubs are undone in afterEach.
          isolate: false,
          // CDK synthesis in test/infra takes seconds on a loaded 2-core machine.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.int.test.ts", "test/contracts/**/*.test.ts"],
          env: offlineEnv,
          globalSetup: ["test/helpers/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
