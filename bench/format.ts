/** How figures are written in the tables: one place, so every table reads the same. */

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number) => (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
export const ratio = (n: number) => `${n.toFixed(2)}×`;
export const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
/** A cell that may have no figure (skipped target): an em dash then. */
export const cell = <T>(value: T | null | undefined, write: (v: T) => string) =>
  value === null || value === undefined ? '—' : write(value);
/** An error's first non-empty line: what a table cell has room for. */
export const firstLine = (err: unknown) =>
  (err instanceof Error ? err.message : String(err))
    .split('\n')
    .find((line) => line.trim())
    ?.trim() ?? 'unknown error';
