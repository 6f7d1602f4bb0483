import { describe, expect, it } from 'vitest';
import { formatBytes, formatCountdown, formatMs, formatPercent } from './format.js';
import { parseRoute } from './router.js';

describe('format', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [20 * 1024 * 1024, '20 MiB'],
  ])('formatBytes(%s) is %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it.each([
    [0.42, '0.42 ms'],
    [12.34, '12.3 ms'],
    [1234, '1234 ms'],
    [83_000, '1 min 23 s'],
  ])('formatMs(%s) is %s', (ms, text) => {
    expect(formatMs(ms)).toBe(text);
  });

  it('counts down in minutes and seconds, never below 0', () => {
    expect(formatCountdown(599_400)).toBe('9 min 59 s');
    expect(formatCountdown(4_999)).toBe('4 s');
    expect(formatCountdown(-5)).toBe('0 s');
    expect(formatCountdown(3_723_000)).toBe('1 h 2 min');
  });

  it('writes shares as percentages', () => {
    expect(formatPercent(1)).toBe('100 %');
    expect(formatPercent(0)).toBe('0 %');
    expect(formatPercent(0.255)).toBe('26 %');
    expect(formatPercent(0.051)).toBe('5.1 %');
  });
});

describe('parseRoute', () => {
  it.each([
    ['', { page: 'dashboard' }],
    ['#/logs', { page: 'logs' }],
    ['#/logs/01a248eb92610000', { page: 'logs', param: '01a248eb92610000' }],
    ['#/versions', { page: 'versions' }],
    ['#/nowhere', { page: 'dashboard' }],
    ['#main', { page: 'dashboard' }],
  ])('%s is %o', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });
});
