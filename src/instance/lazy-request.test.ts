import { describe, expect, it } from 'vitest';
import { lazyRequest } from './lazy-request.js';

const make = (method = 'POST', body = '{"a":1}') =>
  lazyRequest({
    method,
    url: 'http://example.test/path?q=1',
    headers: ['Host', 'example.test', 'X-Two', 'a', 'x-two', 'b', 'Content-Type', 'application/json'],
    body: Buffer.from(method === 'GET' ? '' : body),
  });

describe('lazyRequest', () => {
  it('is a Request to instanceof and to what handlers read', () => {
    const request = make();
    expect(request).toBeInstanceOf(Request);
    expect(request.method).toBe('POST');
    expect(request.url).toBe('http://example.test/path?q=1');
    expect(request.headers.get('x-two')).toBe('a, b');
    expect(new URL(request.url).searchParams.get('q')).toBe('1');
    expect(Object.prototype.toString.call(request)).toBe('[object Request]');
  });

  it('reads the body once, like a real Request', async () => {
    const request = make();
    expect(request.bodyUsed).toBe(false);
    await expect(request.json()).resolves.toEqual({ a: 1 });
    expect(request.bodyUsed).toBe(true);
    await expect(request.text()).rejects.toThrow(TypeError);
    await expect(make().text()).resolves.toBe('{"a":1}');
    expect(Buffer.from(await make().arrayBuffer()).toString()).toBe('{"a":1}');
    await expect(make('POST', 'not json').json()).rejects.toThrow(SyntaxError);
  });

  it('answers everything else from a real Request made on demand', async () => {
    const request = make();
    expect(request.signal).toBeInstanceOf(AbortSignal);
    expect(request.redirect).toBe('follow');
    const copy = request.clone();
    await expect(copy.json()).resolves.toEqual({ a: 1 });
    const chunks: Uint8Array[] = [];
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('{"a":1}');
    expect(request.bodyUsed).toBe(true);
    expect(
      (await make()
        .formData()
        .catch((e: unknown) => e)) instanceof TypeError,
    ).toBe(true);
    expect(make('GET').body).toBeNull();
  });

  it('works with Hono routing', async () => {
    const { Hono } = await import('hono');
    const app = new Hono().post('/path', async (c) =>
      c.json({ got: await c.req.json(), q: c.req.query('q') }),
    );
    const response = await app.fetch(make());
    expect(await response.json()).toEqual({ got: { a: 1 }, q: '1' });
  });
});
