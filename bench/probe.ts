/**
 * One request before a target is measured, checked byte for byte: a target that answers
 * wrongly (another status, body or encoding) is reported as wrong, never as fast.
 */
import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { LoadRequest } from './load.js';

/** What a correct answer is: status, body after decoding, and whether it must come gzipped. */
export interface Expected {
  status: number;
  body: string;
  gzip: boolean;
}

interface Answer {
  status: number;
  encoding: string | undefined;
  body: Buffer;
}

function send(url: string, request: LoadRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(request.path, url),
      { method: request.method, headers: request.headers, timeout: 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            encoding: res.headers['content-encoding'],
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(request.bodyBytes ? Buffer.alloc(request.bodyBytes, 'x') : undefined);
  });
}

const shorten = (text: string) => (text.length > 80 ? `${text.slice(0, 80)}… (${text.length} chars)` : text);

/**
 * Sends `request` once and returns what is wrong with the answer, or undefined when it is right.
 *
 * @example
 * const wrong = await probe(target.url, { path: '/', method: 'GET', headers: {} }, { status: 200, body: 'Hello, World!', gzip: false });
 */
export async function probe(
  url: string,
  request: LoadRequest,
  expected: Expected,
): Promise<string | undefined> {
  const answer = await send(url, request);
  if (answer.status !== expected.status) return `status ${answer.status}, expected ${expected.status}`;
  const gzipped = answer.encoding === 'gzip';
  if (gzipped !== expected.gzip)
    return `Content-Encoding ${answer.encoding ?? 'none'}, expected ${expected.gzip ? 'gzip' : 'none'}`;
  const body = (gzipped ? gunzipSync(answer.body) : answer.body).toString();
  if (body !== expected.body)
    return `body ${JSON.stringify(shorten(body))}, expected ${JSON.stringify(shorten(expected.body))}`;
  return undefined;
}

/** When the first right answer came: `performance.now()` and `Date.now()`. */
export interface Answered {
  at: number;
  wall: number;
}

/**
 * Sends `request` until the answer is right, a few ms apart; resolves when the first right
 * answer came, rejects with the last wrong one after `timeoutMs`.
 *
 * @example
 * const { at } = await firstCorrect(target.url, { path: '/', method: 'GET', headers: {} }, { status: 200, body: 'Hello, World!', gzip: false });
 */
export async function firstCorrect(
  url: string,
  request: LoadRequest,
  expected: Expected,
  timeoutMs = 30_000,
): Promise<Answered> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const wrong = await probe(url, request, expected).catch((err: Error) => err.message);
    if (!wrong) return { at: performance.now(), wall: Date.now() };
    if (performance.now() > deadline)
      throw new Error(`no correct answer within ${timeoutMs / 1000} s: ${wrong}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
