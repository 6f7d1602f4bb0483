/**
 * The instance's one error builder, and both instance servers answering with it: the request
 * channel (fetch handlers) and the HTTP server (Node handlers), each on a real Unix socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server as HttpServer, request as httpRequest } from 'node:http';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackedLines } from '../logs/packed-lines.js';
import { InstanceChannel } from '../scheduler/instance-channel.js';
import { InternalHeader } from '../shared/internal-headers.js';
import { createChannelServer } from './channel-server.js';
import { DeadlineExceededError } from './deadline.js';
import { errorPage, escapeHtml, failedRequestMessage, failureCode, failurePage } from './error-page.js';
import { createInstanceServer } from './server.js';

describe('escapeHtml', () => {
  // biome-ignore format: one row per case reads as a table
  const cases: Array<[string, string]> = [
    ['plain text', 'plain text'],
    ['&', '&amp;'],
    ['<', '&lt;'],
    ['>', '&gt;'],
    ['"', '&quot;'],
    ["'", '&#39;'],
    ['&lt; already escaped', '&amp;lt; already escaped'],
    ['<img src=x onerror="alert(\'1\')">', '&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;'],
  ];
  it.each(cases)('%j → %j', (input, output) => {
    expect(escapeHtml(input)).toBe(output);
  });
});

describe('errorPage', () => {
  it('escapes a message holding <script> and &', () => {
    const page = errorPage(500, `<script>alert("x")</script> & 'more'`);
    const body = page.body.toString();
    expect(body).toBe(
      '<!DOCTYPE html><title>500</title><h1>Error: Server Error</h1>' +
        '<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;more&#39;</p>\n',
    );
    expect(body).not.toContain('<script>');
  });

  it('names other statuses by number and counts content-length in bytes', () => {
    const page = errorPage(503, 'naïve → retry');
    expect(page.status).toBe(503);
    expect(page.body.toString()).toContain('<h1>Error: 503</h1><p>naïve → retry</p>');
    expect(page.headers).toEqual({
      'content-type': 'text/html; charset=utf-8',
      'content-length': String(Buffer.byteLength(page.body.toString())),
    });
    expect(Number(page.headers['content-length'])).toBeGreaterThan(page.body.toString().length);
  });

  it('answers a failed request with a 500 and the generic text, never the cause', () => {
    expect(failurePage()).toEqual(errorPage(500, failedRequestMessage));
  });
});

describe('failureCode', () => {
  it("keeps a thrown error's own Hangar code, else HANGAR_E_HANDLER_FAILED", () => {
    expect(failureCode(new DeadlineExceededError(100))).toBe('HANGAR_E_DEADLINE_EXCEEDED');
    expect(failureCode(new TypeError('x is undefined'))).toBe('HANGAR_E_HANDLER_FAILED');
    expect(failureCode('a string')).toBe('HANGAR_E_HANDLER_FAILED');
    expect(failureCode({ code: 'ECONNRESET' })).toBe('HANGAR_E_HANDLER_FAILED');
  });
});

describe('the instance servers answer with errorPage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-error-page-'));
  const channelPath = join(dir, 'i.ch.sock');
  const httpPath = join(dir, 'i.sock');
  let channelServer: Server;
  let httpServer: HttpServer;
  let channel: InstanceChannel;

  beforeAll(async () => {
    const fetchHandler = async (request: Request): Promise<Response> => {
      const path = new URL(request.url).pathname;
      if (path === '/deadline') throw new DeadlineExceededError(50);
      if (path === '/no-response') return undefined as unknown as Response;
      throw new Error('<b>boom</b> & more');
    };
    const handlers = [
      { kind: 'fetch' as const, call: fetchHandler },
      { kind: 'node' as const, call: () => {} },
    ];
    channelServer = createChannelServer(handlers, { maxRequestBytes: 1024, maxResponseBytes: 1024 });
    httpServer = createInstanceServer(handlers);
    await Promise.all([
      new Promise<void>((resolve) => channelServer.listen(channelPath, resolve)),
      new Promise<void>((resolve) => httpServer.listen(httpPath, resolve)),
    ]);
    channel = new InstanceChannel(channelPath, 1024);
  });

  afterAll(async () => {
    channel.close();
    await Promise.all([
      new Promise((resolve) => channelServer.close(resolve)),
      new Promise((resolve) => httpServer.close(resolve)),
    ]);
    rmSync(dir, { recursive: true, force: true });
  });

  const frame = (url: string, handler = 0) => ({
    method: 'GET',
    url,
    httpVersion: '1.1',
    headers: ['host', 'app.test'],
    handler,
    requestId: `req${url}`,
    remoteAddr: '127.0.0.1',
    https: false,
  });

  const asObject = (flat: readonly string[]) =>
    Object.fromEntries(flat.flatMap((_, i) => (i % 2 === 0 ? [[flat[i]!, flat[i + 1]!]] : [])));

  it('request channel: a throwing handler gets the failure page; its line leads with the code', async () => {
    const response = await channel.request(frame('/throws'), Buffer.alloc(0));
    const page = failurePage();
    expect(response.status).toBe(500);
    expect(asObject(response.headers)).toEqual(page.headers);
    expect(response.body.equals(page.body)).toBe(true);
    const last = readPackedLines(response.lines ?? '')?.lines.at(-1);
    expect(last?.level).toBe('error');
    expect(last?.message).toMatch(/^HANGAR_E_HANDLER_FAILED: Error: <b>boom<\/b> & more\n\s+at /);
  });

  it("request channel: a handler's own code and a missing Response are logged under their codes", async () => {
    const deadline = await channel.request(frame('/deadline'), Buffer.alloc(0));
    expect(deadline.body.equals(failurePage().body)).toBe(true);
    expect(readPackedLines(deadline.lines ?? '')?.lines.at(-1)?.message).toMatch(
      /^HANGAR_E_DEADLINE_EXCEEDED: DeadlineExceededError: the request deadline of 50 ms/,
    );
    const none = await channel.request(frame('/no-response'), Buffer.alloc(0));
    expect(none.status).toBe(500);
    expect(readPackedLines(none.lines ?? '')?.lines.at(-1)?.message).toMatch(
      /^HANGAR_E_HANDLER_FAILED: TypeError: the handler returned undefined, not a Response/,
    );
  });

  it('request channel: a handler that is not a fetch handler', async () => {
    const response = await channel.request(frame('/', 1), Buffer.alloc(0));
    const page = errorPage(
      500,
      'the front end sent handler 1 over the request channel; it is a Node (req, res) handler, served over HTTP',
    );
    expect(response.status).toBe(500);
    expect(response.body.equals(page.body)).toBe(true);
  });

  it('HTTP server: a handler that is not a Node handler', async () => {
    const response = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const req = httpRequest(
          { socketPath: httpPath, path: '/', headers: { [InternalHeader.handler]: '0' } },
          (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          },
        );
        req.on('error', reject);
        req.end();
      },
    );
    const page = errorPage(
      500,
      'the front end asked for handler 0 over HTTP; it is a fetch handler, served over the request channel',
    );
    expect(response.status).toBe(500);
    expect(response.headers).toMatchObject(page.headers);
    expect(response.body).toBe(page.body.toString());
  });
});
