import { describe, expect, it } from 'vitest';
import { checkAllocations, checkShardBy, parseSplits } from './traffic.js';

describe('traffic split rules', () => {
  it('takes weights with two decimals that sum to 1', () => {
    expect(parseSplits('v1=0.7,v2=0.3')).toEqual({ v1: 0.7, v2: 0.3 });
    expect(parseSplits('a=0.33, b=0.33, c=0.34')).toEqual({ a: 0.33, b: 0.33, c: 0.34 });
  });

  it.each([
    ['v1=0.7,v2=0.2', /add up to 0\.9, not 1/],
    ['v1=0.705,v2=0.295', /more than two decimals/],
    ['v1=1.5', /from 0 to 1/],
    ['v1', /not VERSION=WEIGHT/],
    ['v1=0.5,v1=0.5', /named twice/],
    ['', /at least one version/],
  ])('refuses %s, saying why', (text, why) => {
    expect(() => parseSplits(text)).toThrow(why);
  });

  it('refuses a weight that is no number', () => {
    expect(() => checkAllocations({ v1: '1' })).toThrow(/must be a number/);
  });

  it('knows the three ways to split', () => {
    expect(checkShardBy('cookie')).toBe('cookie');
    expect(() => checkShardBy('header')).toThrow(/cookie, ip, random/);
  });
});
