import { inspect } from 'node:util';

/**
 * Normalises a port the way Node's `net` coerces it (`validatePort`): numbers and numeric
 * strings (`'25'`, `' 25 '`, `'0x19'`, `'2.5e1'`, `'+25'` are all 25); anything that is not a
 * whole number from 1 to 65535 throws `ERR_SOCKET_BAD_PORT` (port 0 is no destination).
 */
export function normalisePort(value: unknown): number {
  const bad =
    (typeof value !== 'number' && typeof value !== 'string') ||
    (typeof value === 'string' && value.trim().length === 0) ||
    +value !== +value >>> 0 ||
    +value > 0xffff ||
    +value === 0;
  if (bad) {
    const err = new RangeError(
      `Port should be > 0 and < 65536. Received ${typeof value === 'string' ? `type string (${inspect(value)})` : inspect(value)}.`,
    ) as RangeError & { code: string };
    err.code = 'ERR_SOCKET_BAD_PORT';
    throw err;
  }
  return +value;
}
