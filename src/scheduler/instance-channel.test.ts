/**
 * The request channel end to end over a real Unix socket: the front end's InstanceChannel
 * against the instance's createChannelServer running real fetch handlers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerContext } from '../index.js';
import { createChannelServer } from '../instance/channel-server.js';
import { sleep } from '../instance/deadline.js';
import { readPackedLines } from '../logs/packed-lines.js';
import { Expiry } from '../shared/expiry.js';
import { encodeFrame, FrameDecoder } from '../shared/frame-codec.js';
import type { RequestFrame } from '../shared/request-channel.js';
import { InstanceChannel } from './instance-channel.js';

const dir = mkdtempSync(join(tmpdir(), 'hangar-channel-'));
const path = join(dir, 'instance.ch.sock');
let server: Server;
let channel: InstanceChannel;
/** Reasons the handlers' `ctx.signal`s were aborted with, by request id. */
const aborted = new Map<string, string>();

const frame = (url: string, extra: { method?: string; deadline?: number } = {}) => ({
  method: extra.method ?? 'GET',
  url,
  httpVersion: '1.1',
  headers: ['host', 'app.test'],
  handler: 0,
  requestId: url,
  remoteAddr: '127.0.0.1',
  https: false,
  ...(extra.deadline ? { deadline: extra.deadline } : {}),
});

beforeAll(async () => {
  const app = async (request: Request, ctx: HandlerContext) => {
    const url = new URL(request.url);
    ctx.signal.addEventListener('abort', () => aborted.set(ctx.requestId, String(ctx.signal.reason)));
    if (url.pathname === '/wait') {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      return new Response('late');
    }
    await sleep(Number(url.searchParams.get('ms') ?? 0));
    for (let i = 0; i < 3; i++) ctx.log.info(`line ${i} of ${url.search}`);
    if (url.pathname === '/big') return new Response('x'.repeat(2048));
    if (url.pathname === '/fail') throw new Error('handler failed');
    if (url.pathname === '/ctx') {
      // Accessors an object has as its own give it a hidden class of its own in V8, and kept
      // every request's objects alive until a full GC (docs/decisions.md): ctx has none.
      const own = Object.getOwnPropertyNames(ctx).filter(
        (name) => Object.getOwnPropertyDescriptor(ctx, name)?.get !== undefined,
      );
      return Response.json({ own, env: typeof ctx.env, aborted: ctx.signal.aborted, id: ctx.requestId });
    }
    const body = request.method === 'POST' ? await request.text() : url.search;
    return new Response(body, { headers: { 'set-cookie': 'a=1', 'x-echo': url.search } });
  };
  server = createChannelServer([{ kind: 'fetch', call: app }], {
    maxRequestBytes: 4096,
    maxResponseBytes: 1024,
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  channel = new InstanceChannel(path, 1024);
});
afterAll(() => {
  channel.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('request channel', () => {
  it('carries 40 concurrent requests answered out of order, each with its own response and lines', async () => {
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        channel.request(frame(`/echo?n=${i}&ms=${(i * 7) % 30}`), Buffer.alloc(0)),
      ),
    );
    responses.forEach((response, i) => {
      const search = `?n=${i}&ms=${(i * 7) % 30}`;
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe(search);
      expect(response.headers).toEqual(
        expect.arrayContaining([
          'x-echo',
          search,
          'set-cookie',
          'a=1',
          'content-length',
          String(search.length),
        ]),
      );
      // In the request log's JSON form, which the front end passes on unread.
      expect(readPackedLines(response.lines ?? '')?.lines.map((l) => [l.level, l.message])).toEqual(
        [0, 1, 2].map((n) => ['info', `line ${n} of ${search}`]),
      );
    });
    expect(channel.inflight).toBe(0);
  });

  it('gives handlers a ctx whose signal and env are read through its prototype', async () => {
    const response = await channel.request(frame('/ctx'), Buffer.alloc(0));
    expect(JSON.parse(response.body.toString())).toEqual({
      own: [],
      env: 'object',
      aborted: false,
      id: '/ctx',
    });
  });

  it('sends bodies, reports a body over the limit without sending it, and answers a throwing handler with 500 and its stack', async () => {
    const posted = await channel.request(frame('/echo', { method: 'POST' }), Buffer.from('posted body'));
    expect(posted.body.toString()).toBe('posted body');
    const big = await channel.request(frame('/big'), Buffer.alloc(0));
    expect(big.tooLarge).toBe(2048);
    expect(big.body.length).toBe(0);
    const failed = await channel.request(frame('/fail'), Buffer.alloc(0));
    expect(failed.status).toBe(500);
    expect(readPackedLines(failed.lines ?? '')?.lines.at(-1)?.message).toMatch(
      /Error: handler failed\n\s+at /,
    );
  });

  it("tells the instance when the front end gives up, which aborts the handler's ctx.signal", async () => {
    const expiry = new Expiry();
    const pending = channel.request(frame('/wait'), Buffer.alloc(0), expiry);
    // The request must have reached the handler before the abort means anything.
    await expect.poll(() => server.listening && channel.inflight).toBe(1);
    await sleep(50);
    expiry.fire(new Error('deadline and grace passed'));
    await expect(pending).rejects.toThrow('deadline and grace passed');
    await expect.poll(() => aborted.get('/wait')).toMatch(/gave up on the request/);
  });

  it('aborts ctx.signal at the deadline it was sent', async () => {
    const response = await channel.request(
      frame('/echo?ms=5000', { deadline: Date.now() + 100 }),
      Buffer.alloc(0),
    );
    expect(response.status).toBe(500);
    expect(aborted.get('/echo?ms=5000')).toMatch(/DeadlineExceededError/);
  });

  it('fails requests with ECONNREFUSED when nothing listens, and reconnects once something does', async () => {
    const other = join(dir, 'later.ch.sock');
    const late = new InstanceChannel(other, 1024);
    await expect(late.request(frame('/echo?x'), Buffer.alloc(0))).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    const server2 = createChannelServer([{ kind: 'fetch', call: () => new Response('up') }], {
      maxRequestBytes: 10,
      maxResponseBytes: 10,
    });
    await new Promise<void>((resolve) => server2.listen(other, resolve));
    expect((await late.request(frame('/'), Buffer.alloc(0))).body.toString()).toBe('up');
    late.close();
    server2.close();
  });

  it('splits the body from the lines behind it; a lines length the payload cannot hold keeps the body and says so', async () => {
    // An instance end that answers with frames written by hand: each request's url is the reply.
    const replies: Record<string, [object, Buffer]> = {
      '/ok': [{ status: 200, headers: [], lines: 11 }, Buffer.from('body é[[1,1,"a"]]')],
      '/long': [{ status: 200, headers: [], lines: 999 }, Buffer.from('short')],
      '/text': [{ status: 200, headers: [], lines: 'many' }, Buffer.from('short')],
    };
    const crafted = join(dir, 'crafted.ch.sock');
    const fake = createServer((socket) => {
      const decoder = new FrameDecoder<RequestFrame>({ maxHeaderBytes: 65536, maxPayloadBytes: 65536 });
      socket.on('data', (chunk) => {
        for (const { header } of decoder.push(chunk)) {
          const [head, payload] = replies[header.url]!;
          socket.write(encodeFrame({ id: header.id, ...head }, payload));
        }
      });
    });
    await new Promise<void>((resolve) => fake.listen(crafted, resolve));
    const client = new InstanceChannel(crafted, 1024);
    const ok = await client.request(frame('/ok'), Buffer.alloc(0));
    expect([ok.body.toString(), ok.lines]).toEqual(['body é', '[[1,1,"a"]]']);
    const long = await client.request(frame('/long'), Buffer.alloc(0));
    expect(long.body.toString()).toBe('short');
    expect(long.lines).toMatch(/last 999 bytes of a 5-byte payload/);
    expect(readPackedLines(long.lines!)).toBeUndefined();
    const text = await client.request(frame('/text'), Buffer.alloc(0));
    expect([text.body.toString(), text.lines]).toEqual(['short', expect.stringMatching(/last many bytes/)]);
    client.close();
    fake.close();
  });
});
