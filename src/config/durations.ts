/**
 * The duration and size notations of app.yaml (SPEC S3) and the platform config (S15).
 * Parsers throw a plain Error whose message states the accepted format; the schema turns it
 * into a ConfigIssue with the line it came from.
 */

export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

const MS_PER: Record<DurationUnit, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** Human wording of what `parseDuration` accepts, for messages and fixes. */
export const DURATION_FORMAT = 'a number with a unit ms, s, m, h or d, e.g. 1500ms, 1.5s or 10m';

/** Human wording of what `parseExpiration` accepts. */
export const EXPIRATION_FORMAT =
  'whole numbers with a unit d, h, m or s separated by spaces, e.g. "4d 5h" or "30m" (a bare number is seconds)';

/** Human wording of what `parseSize` accepts. */
export const SIZE_FORMAT =
  'a whole number of bytes, or a number with KiB, MiB or GiB (KB, MB, GB are powers of 1000), e.g. 33554432 or 32MiB';

const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d)?$/;

/**
 * Parses a duration into whole milliseconds.
 * A bare number (a YAML number, or a string of digits) is read in `bareUnit`; app.yaml
 * reads bare numbers as seconds, as App Engine does.
 * @example parseDuration('1.5s') // 1500
 * @example parseDuration('10m') // 600000
 * @example parseDuration(30) // 30000
 */
export function parseDuration(value: string | number, bareUnit: DurationUnit = 's'): number {
  const fail = () => new Error(`'${value}' is not a duration; use ${DURATION_FORMAT}`);
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw fail();
    return checkedMs(value * MS_PER[bareUnit], fail);
  }
  const match = DURATION.exec(value.trim());
  if (!match) throw fail();
  const unit = (match[2] as DurationUnit | undefined) ?? bareUnit;
  return checkedMs(Number(match[1]) * MS_PER[unit], fail);
}

const EXPIRATION_PART = /^(\d+)([dhms]?)$/i;

/**
 * Parses App Engine's `expiration` syntax into milliseconds: whole numbers with a unit
 * `d`, `h`, `m` or `s` (case-insensitive), separated by whitespace and summed; a part
 * without a unit is seconds.
 * @example parseExpiration('4d 5h') // 363600000
 * @example parseExpiration(120) // 120000
 */
export function parseExpiration(value: string | number): number {
  const fail = () => new Error(`'${value}' is not an expiration; use ${EXPIRATION_FORMAT}`);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw fail();
    return checkedMs(value * 1000, fail);
  }
  const parts = value.trim().split(/\s+/);
  let total = 0;
  for (const part of parts) {
    const match = EXPIRATION_PART.exec(part);
    if (!match) throw fail();
    const unit = (match[2]?.toLowerCase() || 's') as DurationUnit;
    total += Number(match[1]) * MS_PER[unit];
  }
  return checkedMs(total, fail);
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  // SI units mean what they say; S15 promises only the binary ones, these are a convenience.
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

const SIZE = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)?$/i;

/**
 * Parses a size into whole bytes: an integer (bytes), or a number with `B`, `KiB`, `MiB`,
 * `GiB`, `TiB` (powers of 1024) or `KB`, `MB`, `GB`, `TB` (powers of 1000). Units are
 * case-insensitive; fractions are rounded to the nearest byte.
 * @example parseSize('32MiB') // 33554432
 * @example parseSize(1024) // 1024
 */
export function parseSize(value: string | number): number {
  const fail = () => new Error(`'${value}' is not a size; use ${SIZE_FORMAT}`);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw fail();
    return value;
  }
  const match = SIZE.exec(value.trim());
  if (!match) throw fail();
  const factor = match[2] === undefined ? 1 : SIZE_UNITS[match[2].toLowerCase()];
  if (factor === undefined) throw fail();
  const bytes = Math.round(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw fail();
  return bytes;
}

/**
 * Formats a byte count for people, in binary units with one decimal.
 * @example formatSize(1_258_291) // '1.2 MiB'
 */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function checkedMs(ms: number, fail: () => Error): number {
  const rounded = Math.round(ms);
  if (!Number.isSafeInteger(rounded)) throw fail();
  return rounded;
}
