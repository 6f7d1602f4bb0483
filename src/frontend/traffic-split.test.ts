import { describe, expect, it } from 'vitest';
import {
  BUCKETS,
  bucketFromCookie,
  bucketFromIp,
  splitCookie,
  splitTable,
  versionForBucket,
} from './traffic-split.js';

const owners = (allocations: Record<string, number>) => {
  const table = splitTable(allocations, 'cookie');
  return Array.from({ length: BUCKETS }, (_, bucket) => versionForBucket(table, bucket));
};

describe('traffic splits', () => {
  it('gives each version its share of the 1,000 buckets, in name order', () => {
    const table = splitTable({ v2: 0.3, v1: 0.7 }, 'cookie');
    expect(table).toEqual({
      by: 'cookie',
      versions: ['v1', 'v2'],
      ends: [700, 1000],
      label: 'cookie:v1=0.7,v2=0.3',
    });
    const counts: Record<string, number> = {};
    for (const version of owners({ v1: 0.7, v2: 0.3 })) counts[version] = (counts[version] ?? 0) + 1;
    expect(counts).toEqual({ v1: 700, v2: 300 });
  });

  it('a change of weights moves only the buckets between the old and new boundaries', () => {
    const before = owners({ v1: 0.7, v2: 0.3 });
    const after = owners({ v1: 0.6, v2: 0.4 });
    const moved = before.filter((version, bucket) => after[bucket] !== version).length;
    expect(moved).toBe(100);
  });

  it('leaves out versions with no weight', () => {
    expect(splitTable({ v1: 1, v2: 0 }, 'ip').versions).toEqual(['v1']);
  });

  it('labels the split in the CLI syntax: by, then versions by name with their weights as given', () => {
    expect(splitTable({ v2: 0.3, v1: 0.7 }, 'cookie').label).toBe('cookie:v1=0.7,v2=0.3');
    expect(splitTable({ b: 0.25, a: 0.5, c: 0.25 }, 'ip').label).toBe('ip:a=0.5,b=0.25,c=0.25');
    expect(splitTable({ v1: 0.5, v2: 0, v3: 0.5 }, 'random').label).toBe('random:v1=0.5,v3=0.5');
  });

  it('reads its own cookie only, among others', () => {
    expect(bucketFromCookie('GOOGAPPUID=412')).toBe(412);
    expect(bucketFromCookie('theme=dark; GOOGAPPUID=7; x=1')).toBe(7);
    expect(bucketFromCookie('XGOOGAPPUID=412')).toBeUndefined();
    expect(bucketFromCookie('GOOGAPPUID=abc')).toBeUndefined();
    expect(bucketFromCookie('GOOGAPPUID=1234')).toBeUndefined();
    expect(bucketFromCookie(undefined)).toBeUndefined();
    expect(splitCookie(412)).toMatch(/^GOOGAPPUID=412; Path=\//);
  });

  it('gives an address the same bucket every time, and spreads addresses', () => {
    expect(bucketFromIp('127.0.0.2')).toBe(bucketFromIp('127.0.0.2'));
    const buckets = new Set(Array.from({ length: 200 }, (_, i) => bucketFromIp(`10.0.${i >> 8}.${i & 255}`)));
    expect(buckets.size).toBeGreaterThan(150);
  });
});
