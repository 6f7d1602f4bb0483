import { describe, expect, it } from 'vitest';
import { formatSize, parseDuration, parseExpiration, parseSize } from './durations.js';

describe('parseDuration', () => {
  it.each([
    ['1500ms', 1500],
    ['1.5s', 1500],
    ['10m', 600_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['0s', 0],
    ['.5s', 500],
    [' 30 s ', 30_000],
    ['30', 30_000],
    [30, 30_000],
    [0.25, 250],
  ] as const)('%j is %d ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it('reads bare numbers in the unit it is given', () => {
    expect(parseDuration(250, 'ms')).toBe(250);
    expect(parseDuration('3', 'm')).toBe(180_000);
    expect(parseDuration('3s', 'ms')).toBe(3000);
  });

  it.each(['', 'soon', '10 minutes', '-1s', '1s 2s', '5w', '1e3s', 'ms'])(
    'rejects %j with the format',
    (input) => {
      expect(() => parseDuration(input)).toThrow(/use a number with a unit ms, s, m, h or d/);
    },
  );

  it.each([Number.NaN, -1, Number.POSITIVE_INFINITY])('rejects the number %d', (input) => {
    expect(() => parseDuration(input)).toThrow(/not a duration/);
  });
});

describe('parseExpiration', () => {
  it.each([
    ['4d 5h', (4 * 24 + 5) * 3_600_000],
    ['1d', 86_400_000],
    ['30m', 1_800_000],
    ['10s', 10_000],
    ['90', 90_000],
    ['1h 1h', 7_200_000],
    ['2D 3H 4M 5S', ((2 * 24 + 3) * 3600 + 4 * 60 + 5) * 1000],
    [120, 120_000],
    [0, 0],
  ] as const)('%j is %d ms', (input, ms) => {
    expect(parseExpiration(input)).toBe(ms);
  });

  it.each(['', '1.5h', '4d5h', '1w', '10ms', 'never', '-1d'])('rejects %j with the format', (input) => {
    expect(() => parseExpiration(input)).toThrow(
      /whole numbers with a unit d, h, m or s separated by spaces/,
    );
  });

  it('rejects fractional seconds', () => {
    expect(() => parseExpiration(1.5)).toThrow(/not an expiration/);
  });
});

describe('parseSize', () => {
  it.each([
    [1024, 1024],
    ['33554432', 33_554_432],
    ['16KiB', 16_384],
    ['32MiB', 33_554_432],
    ['1GiB', 1_073_741_824],
    ['1.5 KiB', 1536],
    ['10 B', 10],
    ['1kb', 1000],
    ['1MB', 1_000_000],
    ['2GB', 2_000_000_000],
    ['1gib', 1_073_741_824],
    // Fractions are rounded to whole bytes.
    ['1.5', 2],
  ] as const)('%j is %d bytes', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each(['', 'big', '1 XiB', '-5', '5 bytes', 1.5, -1])('rejects %j with the format', (input) => {
    expect(() => parseSize(input)).toThrow(/whole number of bytes, or a number with KiB, MiB or GiB/);
  });
});

describe('formatSize', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KiB'],
    [1_258_291, '1.2 MiB'],
    [33_554_433, '32.0 MiB'],
    [3 * 1024 ** 3, '3.0 GiB'],
  ])('%d is %s', (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});
