import { describe, expect, it } from 'vitest';
import {
  packedMaxLevel,
  packLines,
  readPackedLines,
  readPackedLinesByParse,
  unpackLines,
} from './packed-lines.js';

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
    // A run: lines of one millisecond and level after one time and level.
    expect(readPackedLines(`[[${t},1,"a","b, [c]"],[${t + 1},3,"d"]]`)).toEqual({
      lines: [
        { time: '2026-11-21T10:00:00.123Z', level: 'info', message: 'a' },
        { time: '2026-11-21T10:00:00.123Z', level: 'info', message: 'b, [c]' },
        { time: '2026-11-21T10:00:00.124Z', level: 'error', message: 'd' },
      ],
      maxLevel: 3,
    });
    // Plain text (the fast reader's case): the same answer.
    expect(readPackedLines(`[[${t},2,"a, [b]"],[0,4,""]]`)).toEqual({
      lines: [
        { time: '2026-11-21T10:00:00.123Z', level: 'warning', message: 'a, [b]' },
        { time: '1970-01-01T00:00:00.000Z', level: 'critical', message: '' },
      ],
      maxLevel: 4,
    });
  });

  it.each([
    ['not JSON', '[[1,1,"a"]'],
    ['not an array', '{"time":1}'],
    ['a line that is not an array', '[{"time":1,"level":1,"message":"a"}]'],
    ['a line of two fields', '[[1,1]]'],
    ['a run with a message that is not text', '[[1,1,"a",2]]'],
    ['a run with an empty slot', '[[1,1,"a",,"b"]]'],
    ['a run ended by a comma', '[[1,1,"a",]]'],
    ['a time as text', '[["2026-11-21T10:00:00.123Z",1,"a"]]'],
    ['a fractional time', '[[1.5,1,"a"]]'],
    ['a negative time', '[[-1,1,"a"]]'],
    ['a time no Date can hold', '[[1e20,1,"a"]]'],
    ['a level past critical', '[[1,5,"a"]]'],
    ['a fractional level', '[[1,1.5,"a"]]'],
    ['a level as text', '[[1,"info","a"]]'],
    ['a message that is not text', '[[1,1,{"a":1}]]'],
  ])('refuses %s (both readers)', (_, json) => {
    expect(readPackedLines(json)).toBeUndefined();
    expect(readPackedLinesByParse(json)).toBeUndefined();
  });
});

describe('readPackedLines agrees with JSON.parse', () => {
  const messages = [
    '',
    'plain',
    'with "quotes"',
    'back\\slash',
    'tab\tand\nnewline',
    'é ü 漢字 🎉',
    ']',
    '[',
    ',',
    '","',
    '],[',
    '\u0001',
  ];
  const times = [0, 1, t, 8.64e15];
  const texts: string[] = [];
  for (let n = 0; n < 200; n++) {
    // Runs of one to three messages.
    const lines = Array.from({ length: n % 7 }, (_, i) => [
      times[(n + i) % times.length],
      (n * 3 + i) % 5,
      ...Array.from({ length: 1 + ((n + i) % 3) }, (_, k) => messages[(n * 5 + i * 7 + k) % messages.length]),
    ]);
    texts.push(JSON.stringify(lines));
  }

  it('on lines written by JSON.stringify, plain or escaped', () => {
    for (const json of texts) expect(readPackedLines(json)).toEqual(readPackedLinesByParse(json));
  });

  it('packedMaxLevel gives the same highest level without making lines', () => {
    for (const json of texts) expect(packedMaxLevel(json), json).toBe(readPackedLinesByParse(json)?.maxLevel);
    expect(
      packedMaxLevel(
        JSON.stringify([
          [t, 1, 'a'],
          [t, 3, 'b'],
          [t, 2, 'c'],
        ]),
      ),
    ).toBe(3);
    expect(packedMaxLevel('not lines')).toBeUndefined();
  });

  it('on every one-character change of such text', () => {
    const plain = JSON.stringify([
      [t, 1, 'one', 'run'],
      [t + 1, 4, 'two, "three"'],
      [10, 0, ''],
    ]);
    const edits = [' ', ',', '"', '[', ']', '0', '5', '9', '-', '.', 'e', '\\', '\n'];
    let compared = 0;
    for (let i = 0; i <= plain.length; i++) {
      const variants = [
        plain.slice(0, i) + plain.slice(i + 1),
        ...edits.map((c) => plain.slice(0, i) + c + plain.slice(i)),
      ];
      for (const c of edits) variants.push(plain.slice(0, i) + c + plain.slice(i + 1));
      for (const json of variants) {
        expect(readPackedLines(json), json).toEqual(readPackedLinesByParse(json));
        // The level-only reader accepts and refuses exactly the same texts.
        expect(packedMaxLevel(json), json).toBe(readPackedLinesByParse(json)?.maxLevel);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(1500);
  });

  it('on times at and past the limits', () => {
    for (const json of [
      '[[8640000000000000,1,"a"]]',
      '[[8640000000000001,1,"a"]]',
      '[[9999999999999999,1,"a"]]',
      '[[01,1,"a"]]',
      '[[10000000000000000,1,"a"]]',
    ]) {
      expect(readPackedLines(json), json).toEqual(readPackedLinesByParse(json));
    }
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
    // Consecutive lines of one time and level are one run.
    const run = [lines[0]!, { ...lines[0]!, message: 'again' }, lines[1]!];
    expect(packLines(run).json).toBe(
      JSON.stringify([
        [lines[0]!.time, 2, 'a', 'again'],
        [lines[1]!.time, 4, 'b "c"'],
      ]),
    );
    expect(unpackLines(packLines(run).json)).toEqual(run);
  });
});
