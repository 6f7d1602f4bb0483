import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogAssembler } from './assembler.js';
import type { LogEntry, LogLine, RequestLogRecord } from './types.js';

const record = (requestId: string) => ({ requestId, status: 200 }) as unknown as RequestLogRecord;
const line = (message: string): LogLine => ({ time: '2026-01-01T00:00:00.000Z', level: 'info', message });

function harness() {
  const entries: LogEntry[] = [];
  const late: Array<[string, string]> = [];
  const orphans: Array<[string, string[]]> = [];
  const assembler = new LogAssembler({
    holdMs: 50,
    onEntry: (r, lines) => entries.push({ ...r, lines }),
    onLateLine: (id, l) => late.push([id, l.message]),
    onOrphanLines: (id, ls) => orphans.push([id, ls.map((l) => l.message)]),
  });
  const messages = () => entries.map((e) => [e.requestId, e.lines.map((l) => l.message)]);
  return { assembler, entries, late, orphans, messages };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('LogAssembler', () => {
  it('emits a record whose lines all came with it at once, and treats later lines as late', () => {
    const h = harness();
    h.assembler.record(record('a'), [line('one'), line('two')], true);
    expect(h.messages()).toEqual([['a', ['one', 'two']]]);
    expect(h.assembler.line('a', line('after'))).toBe(false);
    expect(h.late).toEqual([['a', 'after']]);
  });

  it('holds a record that may still get lines over IPC, merging them in the order written', () => {
    vi.useFakeTimers();
    const h = harness();
    h.assembler.line('b', line('released first'));
    h.assembler.record(record('b'), [line('carried')]);
    h.assembler.line('b', line('over IPC, within the hold'));
    expect(h.entries).toEqual([]);
    vi.advanceTimersByTime(50);
    expect(h.messages()).toEqual([['b', ['released first', 'carried', 'over IPC, within the hold']]]);
  });

  it('emits held records in arrival order and stays correct past its compaction and memory sizes', () => {
    vi.useFakeTimers();
    const h = harness();
    for (let i = 0; i < 12_000; i++) {
      h.assembler.record(record(`r${i}`), [], i % 2 === 0);
      if (i % 100 === 99) vi.advanceTimersByTime(50);
    }
    vi.advanceTimersByTime(50);
    expect(h.entries).toHaveLength(12_000);
    expect(new Set(h.entries.map((e) => e.requestId)).size).toBe(12_000);
    // The newest 10,000 ids are remembered: their lines are late; the oldest were forgotten.
    expect(h.assembler.line('r11999', line('x'))).toBe(false);
    expect(h.assembler.line('r0', line('y'))).toBe(true);
    h.assembler.close();
    expect(h.orphans).toEqual([['r0', ['y']]]);
  });
});
