import { textTable } from "../src/lib/text-table.js";
/** Plain-text table with aligned columns; numeric-looking cells are right-aligned. */
export function renderTable(headers: string[], rows: string[][]): string {
  const align = headers.map((_, i) =>
    rows.every((r) => /^[-\d.,×%s ]*$/.test(r[i] ?? "")) ? ("right" as const) : ("left" as const),
  );
  return textTable(headers, rows, { align, rule: true });
}

/** Capacity units: whole numbers as-is, halves with one decimal; `-` when nothing was reported. */
export function units(n: number | undefined): string {
  if (n === undefined) return "-";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

export function ms(n: number): string {
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

export function heading(title: string): string {
  return `\n${title}\n${"=".repeat(title.length)}`;
}
