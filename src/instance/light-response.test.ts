import { describe, expect, it } from 'vitest';
import { LightResponse, lightResponseBytes } from './light-response.js';
import { responseBytes } from './response-body.js';

const RealResponse = globalThis.Response;

describe('LightResponse', () => {
  it('answers like the real Response for the common bodies and inits', async () => {
    for (const [body, init] of [
      ['Hello', undefined],
      ['{"a":1}', { status: 201, headers: { 'content-type': 'application/json', 'x-a': '1' } }],
      [new TextEncoder().encode('bytes'), { headers: [['x-b', '2']] as [string, string][] }],
      [null, { status: 404 }],
      [undefined, undefined],
    ] as const) {
      const light = new LightResponse(body, init);
      const real = new RealResponse(body, init);
      expect(light).toBeInstanceOf(RealResponse);
      expect(light).toBeInstanceOf(LightResponse);
      expect(real).toBeInstanceOf(LightResponse);
      expect([light.status, light.ok, light.statusText]).toEqual([real.status, real.ok, real.statusText]);
      expect([...light.headers]).toEqual([...real.headers]);
      expect(await light.text()).toBe(await real.text());
      expect(light.bodyUsed).toBe(real.bodyUsed);
    }
  });

  it('reads its body once; other uses go through a real Response made on demand', async () => {
    const light = new LightResponse('{"x":[1]}');
    await expect(light.json()).resolves.toEqual({ x: [1] });
    await expect(light.text()).rejects.toThrow(TypeError);
    const streamed = new LightResponse('streamed');
    const chunks: Uint8Array[] = [];
    for await (const chunk of streamed.body as unknown as AsyncIterable<Uint8Array>) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('streamed');
    expect(await new LightResponse('c').clone().text()).toBe('c');
    expect(Buffer.from(await new LightResponse('ab').arrayBuffer()).toString()).toBe('ab');
  });

  it('validates as the real one does, by handing unusual arguments to it', () => {
    expect(() => new LightResponse('x', { status: 99 })).toThrow(RangeError);
    expect(() => new LightResponse('x', { status: 204 })).toThrow(TypeError);
    expect(new LightResponse(new URLSearchParams('a=1')).headers.get('content-type')).toMatch(/urlencoded/);
    expect(new LightResponse('x', { statusText: 'Fine' }).statusText).toBe('Fine');
    expect(LightResponse.json({ a: 1 }).headers.get('content-type')).toBe('application/json');
    expect(LightResponse.redirect('http://127.0.0.1/', 302).status).toBe(302);
  });

  it('hands its bytes to the instance without a stream, and subclasses keep working', async () => {
    const light = new LightResponse('Grüezi');
    const taken = lightResponseBytes(light);
    expect(taken.bytes?.toString()).toBe('Grüezi');
    expect(light.bodyUsed).toBe(true);
    class Html extends LightResponse {
      constructor(html: string) {
        super(html, { headers: { 'content-type': 'text/html' } });
      }
    }
    const page = new Html('<p>hi</p>');
    expect(page).toBeInstanceOf(Html);
    expect(page.headers.get('content-type')).toBe('text/html');
    expect((await responseBytes(page)).toString()).toBe('<p>hi</p>');
    const touched = new LightResponse('via real');
    void touched.body;
    expect((await responseBytes(touched)).toString()).toBe('via real');
  });

  it('serves a Hono app once installed as the global Response', async () => {
    globalThis.Response = LightResponse;
    try {
      const { Hono } = await import('hono');
      const app = new Hono().get('/', (c) => c.text('hello')).get('/json', (c) => c.json({ ok: true }, 201));
      const text = await app.fetch(new Request('http://127.0.0.1/'));
      expect(text.status).toBe(200);
      expect((await responseBytes(text)).toString()).toBe('hello');
      const json = await app.fetch(new Request('http://127.0.0.1/json'));
      expect(json.status).toBe(201);
      expect(json.headers.get('content-type')).toMatch(/application\/json/);
      expect(await json.json()).toEqual({ ok: true });
      expect((await app.fetch(new Request('http://127.0.0.1/missing'))).status).toBe(404);
    } finally {
      globalThis.Response = RealResponse;
    }
  });
});
