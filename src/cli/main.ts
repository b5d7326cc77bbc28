import { LocalStackError } from "../local/stack-files.js";
import { createApiClient } from "./api-client.js";
import { parseCommandLine } from "./args.js";
import { COMMANDS } from "./commands.js";
import { CliError, UsageError } from "./errors.js";
import { type Env, resolveTarget } from "./target.js";

/** Where the CLI writes and what it reads from its process; tests pass their own. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Env;
  fetch?: typeof globalThis.fetch;
}

/**
 * Runs `agentforge <group> <command> ...` and returns the exit code: 0 done, 1 failed (an API error,
 * an unreachable API, a missing local stack, a broken audit chain), 2 a usage error. With `--json`,
 * stdout carries exactly the API's JSON body; everything else goes to stderr.
 */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const print = (stream: CliIo["stdout"], text: string) => stream.write(`${text}\n`);
  try {
    const invocation = parseCommandLine(argv, COMMANDS);
    if (invocation.kind === "help") {
      print(io.stdout, invocation.text);
      return 0;
    }
    const { command, input, globals } = invocation;
    const target = resolveTarget(globals, io.env);
    const api = createApiClient({ target, ...(io.fetch ? { fetch: io.fetch } : {}) });
    const outcome = await command.run(input, { api, target });
    print(io.stdout, globals.json ? JSON.stringify(outcome.body, null, 2) : outcome.text);
    if (outcome.warning) print(io.stderr, outcome.warning);
    return outcome.exitCode ?? 0;
  } catch (error) {
    if (error instanceof UsageError) {
      print(io.stderr, `agentforge: ${error.message}`);
      print(io.stderr, `Run \`agentforge ${error.help ? `${error.help} ` : ""}--help\` for usage.`);
      return 2;
    }
    if (error instanceof CliError || error instanceof LocalStackError) {
      print(io.stderr, `agentforge: ${error.message}`);
      return 1;
    }
    // Not an expected failure: a bug, so its stack is worth reporting.
    print(io.stderr, `agentforge: unexpected error: ${error instanceof Error ? error.stack : String(error)}`);
    return 1;
  }
}
