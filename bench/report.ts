/** Plain-text table with aligned columns; numeric-looking cells are right-aligned. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = headers.map((_, i) => rows.every((r) => /^[-\d.,×%s ]*$/.test(r[i] ?? "")));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
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
