/** Missing configuration fails the cold start loudly (the Lambda error metric), not every record. */
export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === "") throw new Error(`${what} is not configured`);
  return value;
}
