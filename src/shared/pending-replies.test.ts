import { afterEach, describe, expect, it, vi } from 'vitest';
import { PendingReplies } from './pending-replies.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('PendingReplies', () => {
  it('settles a reply by its id, each with its own value; ids increase', async () => {
    const replies = new PendingReplies<string>();
    const sent: number[] = [];
    const first = replies.request((id) => sent.push(id));
    const second = replies.request((id) => sent.push(id), { timeoutMs: 60_000 });
    expect(sent).toEqual([1, 2]);
    expect(replies.size).toBe(2);
    expect(replies.settle(2, 'two')).toBe(true);
    expect(replies.settle(1, 'one')).toBe(true);
    expect(await first).toBe('one');
    expect(await second).toBe('two');
    expect(replies.size).toBe(0);
    expect(replies.expect().id).toBe(3);
  });

  it('rejects a reply that does not come in time, with the given message; a late one is ignored', async () => {
    vi.useFakeTimers();
    const replies = new PendingReplies<string>();
    const { id, promise } = replies.expect({
      timeoutMs: 5_000,
      timeoutMessage: "no answer to 'list' within 5 s",
    });
    const outcome = promise.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    vi.advanceTimersByTime(4_999);
    expect(replies.size).toBe(1);
    vi.advanceTimersByTime(1);
    expect(await outcome).toBe("no answer to 'list' within 5 s");
    expect(replies.size).toBe(0);
    expect(replies.settle(id, 'late')).toBe(false);
  });

  it('says which id timed out when no message is given', async () => {
    vi.useFakeTimers();
    const replies = new PendingReplies<void>();
    const waiting = replies.request(() => {}, { timeoutMs: 10 }).catch((err: Error) => err.message);
    vi.advanceTimersByTime(10);
    expect(await waiting).toBe('no reply to 1 within 10 ms');
  });

  it('clears the timer of a settled reply', async () => {
    vi.useFakeTimers();
    const replies = new PendingReplies<number>();
    const waiting = replies.request((id) => replies.settle(id, 7), { timeoutMs: 1_000 });
    expect(vi.getTimerCount()).toBe(0);
    expect(await waiting).toBe(7);
  });

  it('fails one wait, or all of them, with the error given', async () => {
    vi.useFakeTimers();
    const replies = new PendingReplies<number>();
    const one = replies.expect({ timeoutMs: 1_000 });
    const two = replies.request(() => {}, { timeoutMs: 1_000 });
    const three = replies.request(() => {});
    expect(replies.fail(one.id, new Error('bad query'))).toBe(true);
    await expect(one.promise).rejects.toThrow('bad query');
    replies.failAll(new Error('the worker exited (code 1)'));
    await expect(two).rejects.toThrow('the worker exited (code 1)');
    await expect(three).rejects.toThrow('the worker exited (code 1)');
    expect(replies.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ignores unknown ids', () => {
    const replies = new PendingReplies<number>();
    expect(replies.settle(99, 1)).toBe(false);
    expect(replies.fail(99, new Error('x'))).toBe(false);
    expect(replies.size).toBe(0);
  });

  it('ends the wait with the error when sending throws', async () => {
    const replies = new PendingReplies<number>();
    const waiting = replies.request(() => {
      throw new Error('channel closed');
    });
    await expect(waiting).rejects.toThrow('channel closed');
    expect(replies.size).toBe(0);
  });
});
