import { describe, expect, it } from 'vitest';
import { logLine } from './log-capture.js';
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
    const lines = JSON.parse(Buffer.from(`[${state.lines}]`).toString()) as Array<[number, number, string]>;
    expect(lines.map(([, level, message]) => [level, message])).toEqual(
      messages.map((m, i) => [i % 2 ? 3 : 1, m]),
    );
    for (const [time] of lines) expect(time).toBeGreaterThanOrEqual(before);
    expect(state.heldLines).toBe(messages.length);
  });
});
