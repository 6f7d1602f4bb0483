import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** One HTTP/1.1 response as it came off the wire. */
export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers keep every value. */
  headers: Record<string, string[]>;
  body: Buffer;
  /** Every byte received (informational responses included). */
  raw: Buffer;
  /** The server closed the connection after this response. */
  closed: boolean;
}

export interface RawOptions {
  /** Speak TLS, trusting `ca`. */
  tls?: { ca: Buffer | string; servername?: string };
  /** Resolve after this many ms even without a complete response (returns what arrived). */
  timeoutMs?: number;
  /** For HEAD requests: the response has no body whatever Content-Length says. */
  head?: boolean;
  /** Resolve only once the server has closed the connection (the response must be complete then). */
  untilClose?: boolean;
}

/** host:port of an http(s) URL. Tests only ever talk to loopback. */
export function addressOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1' && u.hostname !== '[::1]') throw new Error(`not loopback: ${url}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}

/** Opens a raw connection to the front end (plain or TLS). */
export function openSocket(url: string, tls?: RawOptions['tls']): Promise<Socket> {
  const { host, port } = addressOf(url);
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({ host, port, ca: tls.ca, servername: tls.servername ?? 'localhost' }, () =>
          resolve(socket),
        )
      : connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Reads one response from `socket` (skipping 1xx informational ones), resolving once its body
 * is complete per Content-Length, or when the connection closes.
 */
export function readResponse(socket: Socket, options: RawOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let buffer: Buffer = Buffer.alloc(0);
    let closed = false;
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => finish(true), options.timeoutMs);
    const finish = (force = false) => {
      const parsed = parse(buffer, closed, options.head === true);
      if ((!parsed || options.untilClose) && !closed && !force) return;
      cleanup();
      if (!parsed) {
        reject(
          new Error(`incomplete response (${buffer.length} bytes): ${buffer.toString('latin1', 0, 300)}`),
        );
        return;
      }
      resolve({ ...parsed, raw: buffer, closed });
    };
    // Chunks are joined only when enough bytes arrived for the response the head announced,
    // so a 32 MiB body costs one copy, not one per chunk.
    const chunks: Buffer[] = [];
    let received = 0;
    let needed = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < needed) return;
      buffer = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      chunks.splice(0, chunks.length, buffer);
      needed = options.head ? 0 : (expectedLength(buffer) ?? 0);
      finish();
    };
    const onEnd = () => {
      closed = true;
      finish();
    };
    const onError = (err: NodeJS.ErrnoException) => {
      // A reset after the answer arrived still leaves the answer readable.
      closed = true;
      if (parse(buffer, true, options.head === true)) finish();
      else {
        cleanup();
        reject(err);
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.on('error', onError);
  });
}

/** Sends `request` (bytes as given) on a new connection and reads one response. */
export async function rawRequest(
  url: string,
  request: string | Buffer,
  options: RawOptions = {},
): Promise<RawResponse & { sent: number }> {
  const socket = await openSocket(url, options.tls);
  try {
    const response = readResponse(socket, options);
    const bytes = typeof request === 'string' ? Buffer.from(request, 'latin1') : request;
    socket.write(bytes);
    return { ...(await response), sent: bytes.length };
  } finally {
    socket.destroy();
  }
}

function parse(
  buffer: Buffer,
  closed: boolean,
  head: boolean,
): Omit<RawResponse, 'raw' | 'closed'> | undefined {
  let start = 0;
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n', start);
    if (end === -1) return undefined;
    const lines = buffer.toString('latin1', start, end).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
    if (!Number.isFinite(status)) return undefined;
    const headers: Record<string, string[]> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const values = headers[name] ?? [];
      values.push(line.slice(colon + 1).trim());
      headers[name] = values;
    }
    const bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      start = bodyStart;
      continue;
    }
    if (head || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
    const length = headers['content-length']?.[0];
    if (length !== undefined) {
      const bodyEnd = bodyStart + Number(length);
      if (buffer.length < bodyEnd) return undefined;
      return { status, headers, body: buffer.subarray(bodyStart, bodyEnd) };
    }
    return closed ? { status, headers, body: buffer.subarray(bodyStart) } : undefined;
  }
}

/** Bytes up to the end of the final response's body when its head is complete and has a Content-Length. */
function expectedLength(buffer: Buffer): number | undefined {
  let start = 0;
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n', start);
    if (end === -1) return undefined;
    const head = buffer.toString('latin1', start, end);
    if (/^HTTP\/1\.[01] 1\d\d/.test(head)) {
      start = end + 4;
      continue;
    }
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1];
    return length === undefined ? undefined : end + 4 + Number(length);
  }
}
