import { describe, expect, it } from 'vitest';
import { responseBytes } from './response-body.js';

describe('responseBytes', () => {
  it.each<[string, () => Response, string]>([
    ['a string body', () => new Response('Grüezi'), 'Grüezi'],
    ['a bytes body', () => new Response(new TextEncoder().encode('bytes')), 'bytes'],
    ['a JSON body', () => Response.json({ a: 1 }), '{"a":1}'],
    [
      'a stream body',
      () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('str'));
              c.enqueue(new TextEncoder().encode('eam'));
              c.close();
            },
          }),
        ),
      'stream',
    ],
    ['no body', () => new Response(null, { status: 204 }), ''],
  ])('reads %s', async (_, make, expected) => {
    expect((await responseBytes(make())).toString('utf8')).toBe(expected);
  });

  it('falls back to reading when the body was touched, and rejects a used body as fetch does', async () => {
    const locked = new Response('locked');
    const reader = locked.body!.getReader();
    reader.releaseLock();
    expect((await responseBytes(locked)).toString()).toBe('locked');
    const used = new Response('used');
    await used.text();
    await expect(responseBytes(used)).rejects.toThrow(TypeError);
  });
});
