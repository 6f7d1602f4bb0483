/**
 * Left-aligned columns two spaces apart, the first row the header; trailing spaces trimmed.
 *
 * @example
 * formatTable([['ID', 'STATE'], ['3f2a', 'ready']]) // 'ID    STATE\n3f2a  ready'
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => r[col]?.length ?? 0))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, col) => cell.padEnd(widths[col]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
