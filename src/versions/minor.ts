/**
 * Version ids (SPEC S1, docs/serve.md "Ids"): `CURRENT_VERSION_ID` is `MAJOR.MINOR`. MAJOR is
 * named by the deployer or generated here in App Engine's `YYYYMMDDtHHMMSS` shape; MINOR is
 * new on every deploy, `(deploy_unix_seconds << 28) | random_28_bits` as a decimal string.
 */
import { randomInt } from 'node:crypto';

const RANDOM_BITS = 28n;

/** One more than the largest random part of a MINOR. */
export const MINOR_RANDOM_LIMIT = 2 ** 28;

const DECIMAL = /^(?:0|[1-9]\d*)$/;

/**
 * A new MINOR for a deploy at `nowMs` (epoch milliseconds). The value passes 2^53 (today's
 * seconds shifted by 28 bits are about 2^59), so it is computed as a BigInt and kept as text:
 * a JavaScript number would round its low, random bits away.
 *
 * @example
 * newMinor(1_700_000_000_000, 0xabcdef) // '456340275211259375'
 */
export function newMinor(nowMs: number, random28: number = randomInt(MINOR_RANDOM_LIMIT)): string {
  if (!Number.isFinite(nowMs) || nowMs < 0) {
    throw new RangeError(`a deploy time must be epoch milliseconds >= 0, not ${nowMs}`);
  }
  if (!Number.isInteger(random28) || random28 < 0 || random28 >= MINOR_RANDOM_LIMIT) {
    throw new RangeError(`the random part of a MINOR must be an integer in [0, 2^28), not ${random28}`);
  }
  const seconds = BigInt(Math.floor(nowMs / 1000));
  return ((seconds << RANDOM_BITS) | BigInt(random28)).toString();
}

/** True for a MINOR's shape: a decimal integer without sign or leading zeros. */
export function isMinor(text: string): boolean {
  return DECIMAL.test(text);
}

/** The deploy time of a MINOR, in epoch seconds. */
export function minorSeconds(minor: string): number {
  if (!isMinor(minor)) throw new RangeError(`'${minor}' is not a MINOR (a decimal integer)`);
  return Number(BigInt(minor) >> RANDOM_BITS);
}

/**
 * The MAJOR of a deploy that names none: App Engine's `YYYYMMDDtHHMMSS`. In UTC, not local
 * time, so names made on machines in different time zones still sort in deploy order.
 *
 * @example
 * generatedVersionName(new Date('2026-01-02T03:04:05Z')) // '20260102t030405'
 */
export function generatedVersionName(date: Date): string {
  if (Number.isNaN(date.getTime())) throw new RangeError('cannot name a version after an invalid date');
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    String(date.getUTCFullYear()).padStart(4, '0') +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    't' +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds())
  );
}
