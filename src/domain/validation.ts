import type { z } from "zod";
import { ValidationError } from "./errors.js";

/** Parses `input` with `schema`, turning zod issues into a {@link ValidationError} that names each field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join(".") || "(root)",
    message: issue.message,
  }));
  const summary = issues.map((i) => `${i.path}: ${i.message}`).join("; ");
  throw new ValidationError(`Invalid ${what}: ${summary}`, issues);
}
