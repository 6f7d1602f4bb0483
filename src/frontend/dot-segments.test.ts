import { describe, expect, it } from 'vitest';
import { normalisedTarget } from './dot-segments.js';

describe('normalisedTarget (S5 step 2: . and .. segments)', () => {
  it.each([
    ['/', undefined],
    ['/a/b.c/d', undefined],
    ['/.well-known/x', undefined],
    ['/a..b/c', undefined],
    ['/a/.../b', undefined],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/..', '/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/%2e%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/a/%2E/b', '/a/b'],
    ['/a/./b?x=/../y', '/a/b?x=/../y'],
    ['/a?q=/./', undefined],
    ['/a//./b', '/a//b'],
  ])('%s → %s', (url, expected) => {
    expect(normalisedTarget(url)).toBe(expected);
  });
});
