/**
 * The one plain-text table: columns padded to their widest cell (the header included), separated by
 * two spaces, trailing spaces trimmed. Used by the ops CLI, the demo summary and the bench reports.
 */

export type Align = "left" | "right";

export interface TextTableOptions {
  /** Alignment per column (missing columns are left-aligned), or a function of the column index. */
  align?: readonly Align[] | ((column: number) => Align);
  /** A line of dashes under the header (default false). */
  rule?: boolean;
}

/** The table's lines, header first, without newlines. */
export function textTableLines(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  { align, rule = false }: TextTableOptions = {},
): string[] {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const alignOf = (i: number): Align => (typeof align === "function" ? align(i) : (align?.[i] ?? "left"));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) =>
        alignOf(i) === "right" ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join("  ")
      .trimEnd();
  return [line(header), ...(rule ? [widths.map((w) => "-".repeat(w)).join("  ")] : []), ...rows.map(line)];
}

/** {@link textTableLines} joined with newlines (no trailing newline). */
export function textTable(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  options?: TextTableOptions,
): string {
  return textTableLines(header, rows, options).join("\n");
}
