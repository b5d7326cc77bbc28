/**
 * The ops CLI's expected failures. Each is reported as one line on stderr, never with a stack trace;
 * anything else that escapes a command is a bug.
 */

/** The command line itself is wrong (unknown command or option, missing argument): exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";

  /** `help` names the command (`"agents kill"`) or group (`"agents"`) whose `--help` would explain it. */
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
  }
}

/** A failure the user can act on (unreachable API, unreadable file, missing stack outputs): exit code 1. */
export class CliError extends Error {
  override name = "CliError";
}

/** The API answered with an error status; the message is `<status> <code>: <message> (<hint>)`. */
export class ApiError extends CliError {
  override name = "ApiError";

  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    hint?: string,
  ) {
    super(`${status} ${code}: ${detail}${hint ? ` (${hint})` : ""}`);
  }
}
