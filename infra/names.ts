/** `award-sweeper` → `AwardSweeper`: construct ids from topology ids. */
export const pascal = (id: string): string =>
  id.replace(/(^|-)([a-z])/g, (_m, _dash, c: string) => c.toUpperCase());
