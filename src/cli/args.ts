import { parseArgs } from "node:util";
import { SECRETS } from "../topology.js";
import { UsageError } from "./errors.js";

/** One option of a command, declared once for parsing, validation and usage text. */
export interface OptionSpec {
  type: "string" | "boolean";
  /** May be given several times (values are collected in order). */
  multiple?: boolean;
  short?: string;
  /** The value's placeholder in usage (`--reason <text>`); defaults to the choices, else `value`. */
  value?: string;
  /** The only accepted values; anything else is a usage error. */
  choices?: readonly string[];
  required?: boolean;
  description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** What the parser and the usage text need to know about a command. */
export interface CommandLine {
  group: string;
  name: string;
  summary: string;
  /** Required positional arguments, in order (`["id"]` is shown as `<id>`). */
  args?: readonly string[];
  options?: OptionSpecs;
  /**
   * Who may run it: `operator`, with an operator token; `agent`, also an agent with its own key
   * (`AGENTFORGE_AGENT_KEY`), for itself; `webhook`, nobody's token (the delivery is signed instead).
   */
  access: "operator" | "agent" | "webhook";
}

/** Where the CLI sends its requests, and how it prints; accepted before or after the command. */
export const GLOBAL_OPTIONS = {
  "data-dir": {
    type: "string",
    value: "dir",
    description: "the local stack's data directory (default: $AGENTFORGE_DATA_DIR or .agentforge)",
  },
  "stack-outputs": {
    type: "string",
    value: "file",
    description: "target AWS: the JSON written by `cdk deploy --outputs-file <file>`",
  },
  stack: {
    type: "string",
    value: "name",
    description: "with --stack-outputs: the stack to use when several have an ApiUrl",
  },
  "api-url": { type: "string", value: "url", description: "send requests to this API base URL instead" },
  "api-token-secret": {
    type: "string",
    value: "secret-id",
    description: `AWS: secret id of the operator token (default: ${SECRETS.apiToken.defaultName})`,
  },
  "webhook-secret": {
    type: "string",
    value: "secret-id",
    description: `AWS: secret id of the webhook secret (default: ${SECRETS.githubWebhookSecret.defaultName})`,
  },
  json: { type: "boolean", description: "print the API's JSON body on stdout and nothing else" },
  help: { type: "boolean", short: "h", description: "show usage" },
} as const satisfies OptionSpecs;

export interface GlobalOptions {
  json: boolean;
  dataDir?: string;
  stackOutputs?: string;
  stack?: string;
  apiUrl?: string;
  apiTokenSecret?: string;
  webhookSecret?: string;
}

type Value = string | boolean | Array<string | boolean> | undefined;

/** A command's parsed arguments and options. */
export interface CommandInput {
  /** A declared positional argument. */
  arg(name: string): string;
  /** A single-valued string option, or undefined when not given. */
  option(name: string): string | undefined;
  /** A string option declared `required` (the parser has refused a command line without it). */
  required(name: string): string;
  /** A repeatable string option's values, in order (empty when not given). */
  options(name: string): string[];
}

export type Invocation<T extends CommandLine> =
  | { kind: "help"; text: string }
  | { kind: "command"; command: T; input: CommandInput; globals: GlobalOptions };

const usageHint = "Run `agentforge --help` for the commands, targets and output options.";

/**
 * Parses `agentforge [global options] <group> <command> [arguments] [options]` with node:util's
 * `parseArgs`, strictly: an unknown command or option, a missing or extra argument, a missing required
 * option or a value outside its choices is a {@link UsageError}. `--help` anywhere asks for the usage of
 * what precedes it (everything, a group, or one command) instead.
 */
export function parseCommandLine<T extends CommandLine>(
  argv: readonly string[],
  commands: readonly T[],
): Invocation<T> {
  // A first, lenient pass finds the group and command words, skipping global options and their values.
  const { values, tokens } = parseArgs({
    args: [...argv],
    options: parseArgsConfig(GLOBAL_OPTIONS),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const help = values.help === true;
  const [groupWord, nameWord] = tokens.filter((token) => token.kind === "positional");

  if (!groupWord) {
    if (help) return { kind: "help", text: mainUsage(commands) };
    throw new UsageError("missing command");
  }
  const group = groupWord.value;
  const inGroup = commands.filter((command) => command.group === group);
  if (inGroup.length === 0) throw new UsageError(`unknown command '${group}'`);
  if (!nameWord) {
    if (help) return { kind: "help", text: groupUsage(group, inGroup) };
    throw new UsageError(`missing ${group} command`, group);
  }
  const command = inGroup.find((candidate) => candidate.name === nameWord.value);
  if (!command) throw new UsageError(`unknown command '${group} ${nameWord.value}'`, group);
  if (help) return { kind: "help", text: commandUsage(command) };

  const title = `${command.group} ${command.name}`;
  const specs: OptionSpecs = { ...GLOBAL_OPTIONS, ...command.options };
  const rest = argv.filter((_, index) => index !== groupWord.index && index !== nameWord.index);
  let parsed: { values: Record<string, Value>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: parseArgsConfig(specs), strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error), title);
  }

  const argNames = command.args ?? [];
  if (parsed.positionals.length < argNames.length) {
    throw new UsageError(`missing <${argNames[parsed.positionals.length]}>`, title);
  }
  if (parsed.positionals.length > argNames.length) {
    throw new UsageError(`unexpected argument '${parsed.positionals[argNames.length]}'`, title);
  }
  for (const [name, spec] of Object.entries(command.options ?? {})) {
    checkOption(name, spec, parsed.values[name], title);
  }

  const string = (name: string): string | undefined => {
    const value = parsed.values[name];
    return typeof value === "string" ? value : undefined;
  };
  const present = (value: string | undefined, what: string): string => {
    if (value === undefined) throw new UsageError(`missing ${what}`, title);
    return value;
  };
  return {
    kind: "command",
    command,
    input: {
      arg: (name) => present(parsed.positionals[argNames.indexOf(name)], `<${name}>`),
      option: string,
      required: (name) => present(string(name), `--${name}`),
      options: (name) => {
        const value = parsed.values[name];
        return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
      },
    },
    globals: {
      json: parsed.values.json === true,
      ...defined({
        dataDir: string("data-dir"),
        stackOutputs: string("stack-outputs"),
        stack: string("stack"),
        apiUrl: string("api-url"),
        apiTokenSecret: string("api-token-secret"),
        webhookSecret: string("webhook-secret"),
      }),
    },
  };
}

function checkOption(name: string, spec: OptionSpec, value: Value, title: string): void {
  if (spec.required && value === undefined) {
    throw new UsageError(`${optionSyntax(name, spec)} is required: ${spec.description}`, title);
  }
  if (!spec.choices) return;
  for (const given of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    if (typeof given === "string" && !spec.choices.includes(given)) {
      throw new UsageError(`--${name} must be one of ${spec.choices.join(", ")}, not '${given}'`, title);
    }
  }
}

function parseArgsConfig(specs: OptionSpecs) {
  return Object.fromEntries(
    Object.entries(specs).map(([name, { type, multiple, short }]) => [
      name,
      { type, ...(multiple ? { multiple } : {}), ...(short ? { short } : {}) },
    ]),
  );
}

/** parseArgs' own messages, minus its advice about `--` (which suits scripts, not this CLI). */
function parseArgsMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const unknown = code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ? /'([^']+)'/.exec(message)?.[1] : undefined;
  return unknown ? `unknown option '${unknown}'` : message;
}

function defined<T extends Record<string, unknown>>(record: T): Partial<T> {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function optionSyntax(name: string, spec: OptionSpec): string {
  if (spec.type === "boolean") return `--${name}`;
  const value = spec.value ?? spec.choices?.join("|") ?? "value";
  return `--${name} <${value}>${spec.multiple ? "..." : ""}`;
}

/** `agents kill <id> --reason <text>` */
export function commandSynopsis(command: CommandLine): string {
  const args = (command.args ?? []).map((name) => `<${name}>`);
  const options = Object.entries(command.options ?? {}).map(([name, spec]) =>
    spec.required ? optionSyntax(name, spec) : `[${optionSyntax(name, spec)}]`,
  );
  return [command.group, command.name, ...args, ...options].join(" ");
}

/** Two aligned columns, indented: the layout of every option and command list in the usage. */
function columns(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join("\n");
}

function optionList(specs: OptionSpecs): string {
  return columns(
    Object.entries(specs).map(([name, spec]) => {
      const syntax = optionSyntax(name, spec);
      return [spec.short ? `-${spec.short}, ${syntax}` : syntax, spec.description] as const;
    }),
  );
}

/** Commands an agent may run with its own key are marked `*`. */
const commandList = (commands: readonly CommandLine[]) =>
  columns(
    commands.map(
      (command) =>
        [
          `${command.access === "agent" ? "*" : " "} ${command.group} ${command.name}`,
          command.summary,
        ] as const,
    ),
  );

const AGENT_MARK = "* also with an agent's own key (AGENTFORGE_AGENT_KEY), for that agent only";

const COMMAND_CREDENTIALS: Record<CommandLine["access"], string> = {
  operator:
    "Credentials: an operator token (an agent's key, AGENTFORGE_AGENT_KEY, is refused: 403 FORBIDDEN).",
  agent:
    "Credentials: an operator token, or the agent's own key for itself (AGENTFORGE_AGENT_KEY wins when set).",
  webhook:
    "Credentials: none; the delivery is signed with the webhook secret (GITHUB_WEBHOOK_SECRET or the stack's).",
};

/** Which bearer token is sent, and who may run what with it. */
const CREDENTIALS = [
  "Credentials: AGENTFORGE_AGENT_KEY, when set, wins: it is the bearer of every request, and the API",
  "lets an agent run only the * commands, for itself (anything else is 403 FORBIDDEN). Otherwise the",
  "operator token: AGENTFORGE_OPERATOR_TOKEN (a named operator's), else AGENTFORGE_API_TOKEN, else the",
  "stack's (secrets.json locally, Secrets Manager on AWS). The audit log names the operator or agent.",
];

export function mainUsage(commands: readonly CommandLine[]): string {
  const { json, help, ...target } = GLOBAL_OPTIONS;
  return [
    "Usage: agentforge <group> <command> [arguments] [options]",
    "",
    "Operate an AgentForge marketplace through its REST API and webhook receiver.",
    "",
    "Commands:",
    commandList(commands),
    AGENT_MARK,
    "",
    "Target (default: the local stack started with `npm start`):",
    optionList(target),
    "",
    "Output:",
    optionList({ json, help }),
    "",
    ...CREDENTIALS,
    "GITHUB_WEBHOOK_SECRET overrides the stack's webhook secret; AGENTFORGE_DATA_DIR is the local data",
    "directory.",
    "Exit codes: 0 done, 1 failed (API error, unreachable API, broken audit chain), 2 usage error.",
    "Run `agentforge <group> <command> --help` for a command's arguments.",
  ].join("\n");
}

export function groupUsage(group: string, commands: readonly CommandLine[]): string {
  return [
    `Usage: agentforge ${group} <command> [arguments] [options]`,
    "",
    commandList(commands),
    ...(commands.some((command) => command.access === "agent") ? [AGENT_MARK] : []),
    "",
    usageHint,
  ].join("\n");
}

export function commandUsage(command: CommandLine): string {
  const options = command.options ?? {};
  return [
    `Usage: agentforge ${commandSynopsis(command)}`,
    "",
    command.summary,
    "",
    COMMAND_CREDENTIALS[command.access],
    ...(Object.keys(options).length > 0 ? ["", "Options:", optionList(options)] : []),
    "",
    usageHint,
  ].join("\n");
}
