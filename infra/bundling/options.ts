import { fileURLToPath } from "node:url";

/**
 * How every Lambda is bundled, shared by the CDK functions (`NodejsFunction`, local esbuild, no
 * Docker) and `bench/bundle-sizes.ts`, so the bench measures exactly what is deployed.
 *
 * - ESM for Node.js 24 (the `nodejs24.x` runtime), `module` before `main` so packages' ESM builds are
 *   used and tree-shaken; a `createRequire` banner gives CommonJS dependencies bundled into the ESM
 *   output a working `require` for Node built-ins.
 * - Minified with names kept (Powertools and error logs keep readable class and function names); no
 *   source maps, since `--enable-source-maps` costs cold-start time on every invocation that throws.
 * - Everything is bundled, `@aws-sdk/*` included: the deployed code runs the SDK version the tests
 *   ran, not whatever version the runtime ships that month. It costs bundle size, which
 *   `npm run bench` prints per function.
 * - `@electric-sql/pglite` is replaced by a stub: see `pglite-stub.ts`; so is `jsonschema`, which
 *   ElectroDB uses only to check our constant entity models at every cold start: see
 *   `jsonschema-stub.ts`.
 */
export const LAMBDA_BUNDLING = {
  format: "esm",
  platform: "node",
  target: "node24",
  mainFields: ["module", "main"],
  minify: true,
  keepNames: true,
  sourcemap: false,
  banner:
    "import { createRequire as __agentforgeCreateRequire } from 'node:module'; const require = __agentforgeCreateRequire(import.meta.url);",
  external: [] as string[],
  alias: {
    "@electric-sql/pglite": fileURLToPath(new URL("./pglite-stub.ts", import.meta.url)),
    // ElectroDB's model check of our constant models, done by every test run instead: see the stub.
    jsonschema: fileURLToPath(new URL("./jsonschema-stub.ts", import.meta.url)),
  } as Readonly<Record<string, string>>,
} as const;

/**
 * What `external` would hold for the runtime-provided AWS SDK (the `nodejs24.x` runtime ships
 * `@aws-sdk/*` v3 and its `@smithy/*` dependencies). Not deployed: `npm run bench -- --cold-start`
 * measures both ways, so the choice is made by measurement.
 */
export const RUNTIME_SDK_EXTERNAL: readonly string[] = ["@aws-sdk/*", "@smithy/*"];
