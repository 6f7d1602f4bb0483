import { describe, expect, it } from 'vitest';
import { isoTime } from './record.js';

describe('isoTime', () => {
  it('formats every time right, however conversions repeat and alternate', () => {
    const t = Date.parse('2026-11-21T10:00:00.000Z');
    const order = [0, 0, 1, 0, 1, 1, 2, 0, 2, 3, 1, 3, 3, 0];
    for (const d of order) expect(isoTime(t + d)).toBe(new Date(t + d).toISOString());
  });
});
