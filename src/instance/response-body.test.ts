import { describe, expect, it } from 'vitest';
import { ResponseTooLarge, responseBytes } from './response-body.js';

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

  it('stops at the limit, for bytes and for an endless stream', async () => {
    await expect(responseBytes(new Response('12345'), 5)).resolves.toHaveLength(5);
    await expect(responseBytes(new Response('123456'), 5)).rejects.toBeInstanceOf(ResponseTooLarge);
    let cancelled = false;
    const endless = new Response(
      new ReadableStream({
        pull(c) {
          c.enqueue(new Uint8Array(1024));
        },
        cancel() {
          cancelled = true;
        },
      }),
    );
    const err = await responseBytes(endless, 10_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTooLarge);
    expect((err as ResponseTooLarge).bytes).toBe(10_240);
    expect(cancelled).toBe(true);
  });
});
