import { describe, expect, it } from 'vitest';
import { logLine, packHeldLines } from './log-capture.js';
import { requestStorage } from './request-context.js';
import { RequestState } from './request-state.js';

const facts = {
  requestId: 'r'.repeat(32),
  remoteAddr: '127.0.0.1',
  https: false,
  method: 'GET',
  url: '/',
  httpVersion: '1.1',
  headers: {},
};

describe('lines held for the response', () => {
  it('are the stored JSON form, whatever the message holds', () => {
    const messages = [
      'plain',
      '',
      'with "quotes" and \\backslashes\\',
      'control \u0001 tab\t newline\n end',
      'é ü 漢字',
      'emoji 🎉 pair',
      'lone \ud800 high and \udc00 low surrogates',
      '</script>',
    ];
    const state = new RequestState(facts, true);
    const before = Date.now();
    requestStorage.run(state, () => {
      for (const [i, m] of messages.entries()) logLine(i % 2 ? 'error' : 'info', m);
    });
    // As the front end gets them: UTF-8 over the request channel.
    const lines = JSON.parse(Buffer.from(packHeldLines(state.lines!)).toString()) as Array<
      [number, number, string]
    >;
    expect(lines.map(([, level, message]) => [level, message])).toEqual(
      messages.map((m, i) => [i % 2 ? 3 : 1, m]),
    );
    for (const [time] of lines) expect(time).toBeGreaterThanOrEqual(before);
    expect(state.heldLines).toBe(messages.length);
  });

  it('are packed exactly as JSON.stringify would write them, plain or not', () => {
    const cases: string[][] = [
      [],
      ['one'],
      ['a', 'b', 'c'],
      ['plain', 'with "quote"', 'plain again'],
      // Lone halves that would pair up if the messages were tested together.
      ['ends high \ud83c', '\udf89 starts low'],
      ['back\\slash', '\u001f', '\u007f del is fine', 'x'.repeat(5000)],
    ];
    for (const messages of cases) {
      const held = messages.flatMap((m, i) => [1763712244646 + (i >> 1), i % 5, m]);
      const expected = JSON.stringify(messages.map((m, i) => [1763712244646 + (i >> 1), i % 5, m]));
      expect(packHeldLines(held)).toBe(expected);
      // The same messages in one millisecond at one level: one run.
      const run = messages.flatMap((m) => [1763712244646, 1, m]);
      expect(packHeldLines(run)).toBe(
        messages.length === 0 ? '[]' : JSON.stringify([[1763712244646, 1, ...messages]]),
      );
    }
  });
});
