import { describe, expect, it } from 'vitest';
import { generatedVersionName, isMinor, MINOR_RANDOM_LIMIT, minorSeconds, newMinor } from './minor.js';
import { checkVersionName } from './names.js';

describe('newMinor', () => {
  it('is (deploy seconds << 28) | random, exact beyond 2^53', () => {
    // 1_700_000_000 * 2^28 + 0xabcdef, worked out by hand: 456340275200000000 + 11259375.
    const minor = newMinor(1_700_000_000_999, 0xabcdef);
    expect(minor).toBe('456340275211259375');
    expect(BigInt(minor) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    // As a double it would have lost the random part's low bits.
    expect(String(Number(minor))).not.toBe(minor);
  });

  it('uses whole seconds, and the random part fills exactly the low 28 bits', () => {
    expect(newMinor(999, 0)).toBe('0');
    expect(newMinor(1000, 0)).toBe(String(2 ** 28));
    expect(newMinor(1000, MINOR_RANDOM_LIMIT - 1)).toBe(String(2 ** 29 - 1));
  });

  it('orders by deploy second whatever the random parts', () => {
    const earlier = BigInt(newMinor(1_700_000_000_000, MINOR_RANDOM_LIMIT - 1));
    const later = BigInt(newMinor(1_700_000_001_000, 0));
    expect(later > earlier).toBe(true);
  });

  it('round-trips its deploy second and draws a random part in range by default', () => {
    const now = Date.UTC(2026, 4, 17, 9, 30, 12, 345);
    const minor = newMinor(now);
    expect(isMinor(minor)).toBe(true);
    expect(minorSeconds(minor)).toBe(Math.floor(now / 1000));
    const random = BigInt(minor) - (BigInt(Math.floor(now / 1000)) << 28n);
    expect(random >= 0n && random < BigInt(MINOR_RANDOM_LIMIT)).toBe(true);
  });

  it('refuses a random part outside [0, 2^28) and a time before the epoch', () => {
    for (const random of [-1, MINOR_RANDOM_LIMIT, 1.5, Number.NaN]) {
      expect(() => newMinor(1000, random), String(random)).toThrow(RangeError);
    }
    expect(() => newMinor(-1, 0)).toThrow(RangeError);
    expect(() => newMinor(Number.POSITIVE_INFINITY, 0)).toThrow(RangeError);
  });
});

describe('isMinor / minorSeconds', () => {
  it('accepts decimal integers only', () => {
    expect(isMinor('0')).toBe(true);
    expect(isMinor('456340275211259375')).toBe(true);
    for (const text of ['', '01', '-1', '1.5', '1e3', ' 1', '1\n', '12/../3', '0x10']) {
      expect(isMinor(text), JSON.stringify(text)).toBe(false);
    }
    expect(() => minorSeconds('abc')).toThrow(RangeError);
  });
});

describe('generatedVersionName', () => {
  it("is App Engine's YYYYMMDDtHHMMSS, in UTC, zero-padded", () => {
    expect(generatedVersionName(new Date('2026-01-02T03:04:05.678Z'))).toBe('20260102t030405');
    expect(generatedVersionName(new Date('2025-12-31T23:59:59Z'))).toBe('20251231t235959');
  });

  it('is a valid version name that sorts in time order', () => {
    const a = generatedVersionName(new Date('2026-01-09T23:59:59Z'));
    const b = generatedVersionName(new Date('2026-01-10T00:00:00Z'));
    expect(checkVersionName(a)).toBe(a);
    expect(a < b).toBe(true);
  });

  it('refuses an invalid date', () => {
    expect(() => generatedVersionName(new Date('nonsense'))).toThrow(RangeError);
  });
});
