import { main } from "./main.js";

// The AWS SDK's Node 20 deprecation notice (only the AWS target loads the SDK) would read as an error.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

/** `agentforge`: the ops CLI (see `agentforge --help`). */
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
