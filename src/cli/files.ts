import { readFileSync } from "node:fs";
import { CliError } from "./errors.js";

/** The bytes of a file the user named (`what` says which, for the error message). */
export function readInputFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new CliError(`cannot read ${what} ${path}: ${code === "ENOENT" ? "no such file" : message}`);
  }
}

/** A file the user named, parsed as JSON. */
export function readJsonInput(path: string, what: string): unknown {
  return parseJsonInput(readInputFile(path, what), path, what);
}

/** `bytes` parsed as JSON, or a one-line error naming the file. */
export function parseJsonInput(bytes: Buffer, path: string, what: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new CliError(`${what} ${path} is not valid JSON`);
  }
}
