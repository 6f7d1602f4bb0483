import { describe, expect, it } from 'vitest';
import { packLines, readPackedLines, unpackLines } from './packed-lines.js';

const t = Date.parse('2026-11-21T10:00:00.123Z');

describe('readPackedLines', () => {
  it('reads the stored form with epoch ms times, and the highest level', () => {
    const json = JSON.stringify([
      [t, 0, 'debug line'],
      [t + 5, 3, 'multi\nline "quoted" é'],
      [t + 5, 1, ''],
    ]);
    expect(readPackedLines(json)).toEqual({
      lines: [
        { time: '2026-11-21T10:00:00.123Z', level: 'debug', message: 'debug line' },
        { time: '2026-11-21T10:00:00.128Z', level: 'error', message: 'multi\nline "quoted" é' },
        { time: '2026-11-21T10:00:00.128Z', level: 'info', message: '' },
      ],
      maxLevel: 3,
    });
    expect(readPackedLines('[]')).toEqual({ lines: [], maxLevel: -1 });
  });

  it.each([
    ['not JSON', '[[1,1,"a"]'],
    ['not an array', '{"time":1}'],
    ['a line that is not an array', '[{"time":1,"level":1,"message":"a"}]'],
    ['a line of two fields', '[[1,1]]'],
    ['a line of four fields', '[[1,1,"a","b"]]'],
    ['a time as text', '[["2026-11-21T10:00:00.123Z",1,"a"]]'],
    ['a fractional time', '[[1.5,1,"a"]]'],
    ['a negative time', '[[-1,1,"a"]]'],
    ['a time no Date can hold', '[[1e20,1,"a"]]'],
    ['a level past critical', '[[1,5,"a"]]'],
    ['a fractional level', '[[1,1.5,"a"]]'],
    ['a level as text', '[[1,"info","a"]]'],
    ['a message that is not text', '[[1,1,{"a":1}]]'],
  ])('refuses %s', (_, json) => {
    expect(readPackedLines(json)).toBeUndefined();
  });
});

describe('packLines / unpackLines', () => {
  it('round-trip lines with ISO times, and read epoch ms times as ISO', () => {
    const lines = [
      { time: '2026-11-21T10:00:00.123Z', level: 'warning' as const, message: 'a' },
      { time: '2026-11-21T10:00:00.124Z', level: 'critical' as const, message: 'b "c"' },
    ];
    const packed = packLines(lines);
    expect(packed.maxLevel).toBe(4);
    expect(unpackLines(packed.json)).toEqual(lines);
    expect(unpackLines(`[[${t},2,"x"]]`)).toEqual([
      { time: '2026-11-21T10:00:00.123Z', level: 'warning', message: 'x' },
    ]);
    expect(packLines([])).toEqual({ json: '[]', maxLevel: -1 });
  });
});
