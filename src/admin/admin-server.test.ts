import { describe, expect, it } from 'vitest';
import { writeTail } from './admin-server.js';

/** A response that records what happens to it; `writableLength` grows with what is written and never drains. */
function unreadResponse() {
  const written: string[] = [];
  const res = {
    destroyed: false,
    writableLength: 0,
    write(text: string) {
      written.push(text);
      res.writableLength += Buffer.byteLength(text);
      return false;
    },
    destroy() {
      res.destroyed = true;
      return res;
    },
  };
  return { res, written };
}

describe('writeTail', () => {
  it('writes while the client reads, and closes a client that leaves more than the cap unread', () => {
    const { res, written } = unreadResponse();
    const piece = 'data: {"requestId":"x"}\n\n'.repeat(40); // 1,000 bytes
    for (let i = 0; i < 10; i++) writeTail(res as never, piece, 5_000);
    // Pieces are written while at most the cap is unread (the sixth makes it 6,000); the seventh
    // finds more than the cap unread and closes the connection instead.
    expect(written).toHaveLength(6);
    expect(res.destroyed).toBe(true);
    expect(res.writableLength).toBe(6_000);
  });

  it('keeps writing to a client that drains', () => {
    const { res, written } = unreadResponse();
    for (let i = 0; i < 100; i++) {
      writeTail(res as never, 'x'.repeat(1_000), 5_000);
      res.writableLength = 0; // read by the client
    }
    expect(written).toHaveLength(100);
    expect(res.destroyed).toBe(false);
  });
});
