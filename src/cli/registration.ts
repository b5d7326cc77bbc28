import { CliError, UsageError } from "./errors.js";

/** Registration fields given as flags; undefined when the flag was not given. */
export interface RegistrationFlags {
  agent_id?: string | undefined;
  capabilities?: string[] | undefined;
  cost_model?: string | undefined;
  bidding_endpoint?: string | undefined;
  wallet_address?: string | undefined;
  status?: string | undefined;
}

/**
 * The `POST /agents` body: the agent file's JSON object (if any), each flag given replacing its field.
 * The API validates the result and names every bad field, so nothing is checked twice here.
 */
export function registrationBody(file: unknown, flags: RegistrationFlags): Record<string, unknown> {
  if (file !== undefined && (typeof file !== "object" || file === null || Array.isArray(file))) {
    throw new CliError("the agent file must hold one JSON object (agent_id, capabilities, cost_model, ...)");
  }
  const given = Object.entries(flags).filter(([, value]) => value !== undefined);
  const body = { ...(file as Record<string, unknown> | undefined), ...Object.fromEntries(given) };
  if (Object.keys(body).length === 0) {
    throw new UsageError(
      "nothing to register: give --file <agent.json>, or --id, --capability, --cost-model and --endpoint",
      "agents register",
    );
  }
  return body;
}

/** `--capability a --capability b,c` → `["a", "b", "c"]`; undefined when none is given. */
export function capabilityList(values: readonly string[]): string[] | undefined {
  if (values.length === 0) return undefined;
  return values.flatMap((value) => value.split(",").map((name) => name.trim())).filter((name) => name !== "");
}
