/**
 * The instance's side of a URL Fetch call (S13): one connection to the socket service, the
 * `urlfetch` hello and the request body out, the reply line and the response body back
 * (service/urlfetch.ts makes the call). Inside a request, the request's deadline ends the
 * call with the request's own DeadlineExceededError (S6).
 */
import type { Socket } from 'node:net';
import { readFirstLine } from '../lines.js';
import type { HelloOf } from '../protocol.js';
import { line } from '../wire.js';
import { getLink, onRequestAbort, replyError } from './link.js';
import { loadSchemas } from './schemas.js';

export type UrlFetchRequest = Omit<
  HelloOf<'urlfetch'>,
  'v' | 'app' | 'token' | 'instance' | 'request' | 'service' | 'version' | 'op' | 'bodyBytes'
>;

export interface UrlFetchReply {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  url: string;
  redirects: number;
  truncated: boolean;
  body: Buffer;
}

/**
 * Makes one call through the socket service. Rejects with the service's error (Node-style:
 * `code`, `message`), or with the request's DeadlineExceededError when its deadline comes first.
 *
 * @example
 * const reply = await urlFetchCall({ method: 'GET', url, headers: [], deadlineMs: 5000, followRedirects: true, validateCertificate: true, allowTruncated: false }, Buffer.alloc(0));
 */
export function urlFetchCall(request: UrlFetchRequest, body: Buffer): Promise<UrlFetchReply> {
  const link = getLink();
  const conn = link.dial();
  conn.on('error', () => {});
  const hello: HelloOf<'urlfetch'> = {
    ...link.identity(),
    op: 'urlfetch',
    ...request,
    bodyBytes: body.length,
  };
  conn.write(line(hello));
  if (body.length > 0) conn.write(body);
  return new Promise<UrlFetchReply>((resolve, reject) => {
    const stop = onRequestAbort((reason) => {
      conn.destroy();
      reject(reason);
    });
    readReply(conn).then(
      (reply) => {
        stop();
        resolve(reply);
      },
      (err: unknown) => {
        stop();
        conn.destroy();
        reject(err);
      },
    );
  });
}

async function readReply(conn: Socket): Promise<UrlFetchReply> {
  const [text] = await Promise.all([readFirstLine(conn), loadSchemas()]);
  const reply = JSON.parse(text) as {
    ok?: boolean;
    value?: Omit<UrlFetchReply, 'body'> & { bodyBytes: number };
    error?: unknown;
  };
  if (reply.ok !== true || !reply.value) throw replyError(reply.error);
  const { bodyBytes, ...meta } = reply.value;
  const body = await readToEnd(conn, bodyBytes);
  return { ...meta, body };
}

function readToEnd(conn: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    conn.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
    });
    conn.once('end', () =>
      have === bytes
        ? resolve(Buffer.concat(chunks, have))
        : reject(new Error(`urlfetch: the response body ended after ${have} of ${bytes} bytes`)),
    );
    conn.once('close', () => {
      if (have !== bytes)
        reject(new Error(`urlfetch: the socket service closed the call after ${have} of ${bytes} bytes`));
    });
    conn.resume();
  });
}
