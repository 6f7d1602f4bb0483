import { afterEach, describe, expect, it, vi } from 'vitest';
import { FLUSH_MS, LogStreams } from './log-streams.js';
import type { LogEntry, LogQuery } from './types.js';

const entry = (n: number, app = 'shop', status = 200): LogEntry =>
  ({
    requestId: `r${n}`,
    appId: app,
    status,
    resource: `/${n}`,
    startTime: '2026-12-06T00:00:00Z',
    lines: [],
  }) as unknown as LogEntry;
const all = {} as LogQuery;

afterEach(() => vi.useRealTimers());

/** The data events of a stream's text, parsed, and its skipped counts. */
function events(text: string): { ids: string[]; skipped: number[] } {
  const ids: string[] = [];
  const skipped: number[] = [];
  for (const block of text.split('\n\n').filter(Boolean)) {
    const data = block
      .split('\n')
      .find((l) => l.startsWith('data: '))!
      .slice(6);
    if (block.startsWith('event: skipped')) skipped.push((JSON.parse(data) as { skipped: number }).skipped);
    else ids.push((JSON.parse(data) as { requestId: string }).requestId);
  }
  return { ids, skipped };
}

describe('LogStreams', () => {
  it('sends each tail the entries it matches, batched: one post per tail and flush', () => {
    vi.useFakeTimers();
    const posts: Array<[number, string]> = [];
    const streams = new LogStreams((id, text) => posts.push([id, text]));
    streams.add(1, all);
    streams.add(2, { app: 'blog' } as LogQuery);
    for (let i = 0; i < 50; i++) streams.entry(entry(i, i % 10 === 0 ? 'blog' : 'shop'));
    expect(posts).toEqual([]);
    vi.advanceTimersByTime(FLUSH_MS);
    expect(posts.map(([id]) => id)).toEqual([1, 2]);
    expect(events(posts[0]![1]).ids).toHaveLength(50);
    expect(events(posts[1]![1]).ids).toEqual(['r0', 'r10', 'r20', 'r30', 'r40']);
    // Nothing new: no post.
    vi.advanceTimersByTime(FLUSH_MS * 5);
    expect(posts).toHaveLength(2);
  });

  it('caps a tail at maxPerSecond and says how many it skipped', () => {
    vi.useFakeTimers();
    let now = 10_000;
    const posts: string[] = [];
    const streams = new LogStreams(
      (_id, text) => posts.push(text),
      () => now,
    );
    streams.add(7, all, 3);
    for (let i = 0; i < 10; i++) streams.entry(entry(i));
    streams.flush();
    expect(events(posts.join(''))).toEqual({ ids: ['r0', 'r1', 'r2'], skipped: [7] });
    // The next second has its own three.
    now += 1_000;
    for (let i = 10; i < 15; i++) streams.entry(entry(i));
    streams.flush();
    expect(events(posts[1]!)).toEqual({ ids: ['r10', 'r11', 'r12'], skipped: [2] });
  });

  it('forgets a removed tail, and a closed one sends nothing', () => {
    vi.useFakeTimers();
    const posts: number[] = [];
    const streams = new LogStreams((id) => posts.push(id));
    streams.add(1, all);
    streams.add(2, all);
    streams.remove(1);
    streams.entry(entry(1));
    vi.advanceTimersByTime(FLUSH_MS);
    expect(posts).toEqual([2]);
    expect(streams.size).toBe(1);
    streams.entry(entry(2));
    streams.close();
    vi.advanceTimersByTime(FLUSH_MS);
    expect(posts).toEqual([2]);
  });
});
