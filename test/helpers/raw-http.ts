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

/**
 * Opens a raw connection to the front end (plain or TLS). `localAddress` picks the client's
 * own loopback address (e.g. 127.0.0.2), for limits per client address.
 */
export function openSocket(
  url: string,
  tls?: RawOptions['tls'],
  options: { localAddress?: string } = {},
): Promise<Socket> {
  const { host, port } = addressOf(url);
  if (options.localAddress !== undefined && !isLoopback(options.localAddress)) {
    throw new Error(`not loopback: ${options.localAddress}`);
  }
  const local = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({ host, port, ca: tls.ca, servername: tls.servername ?? 'localhost', ...local }, () =>
          resolve(socket),
        )
      : connect({ host, port, ...local }, () => resolve(socket));
    socket.once('error', reject);
  });
}

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/** Everything the server sent on one connection, split into responses. */
export interface Conversation {
  /** The final (non-1xx) responses, in order. */
  responses: Array<Omit<RawResponse, 'raw' | 'closed'>>;
  /** Their statuses, for short assertions. */
  statuses: number[];
  /** Every byte received. */
  raw: Buffer;
  /** The server ended or closed the connection (within the time allowed). */
  closed: boolean;
  /** Milliseconds from the first write until the server closed (or the time allowed ran out). */
  elapsedMs: number;
}

/**
 * Writes `parts` on a new connection (each part after the one before it was handed to the
 * kernel, with `pauseMs` between them when given) and collects every byte the server sends
 * until it ends the connection, or `timeoutMs` passes (then `closed` is false). For pipelining
 * vectors: one part holding several requests arrives as one read on loopback.
 */
export async function converse(
  url: string,
  parts: ReadonlyArray<string | Buffer>,
  options: { timeoutMs?: number; pauseMs?: number; localAddress?: string; head?: boolean } = {},
): Promise<Conversation> {
  const socket = await openSocket(url, undefined, { localAddress: options.localAddress });
  const started = performance.now();
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {}); // a reset after the answer still leaves the answer readable
  const ended = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), options.timeoutMs ?? 5_000);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('end', done);
    socket.once('close', done);
  });
  try {
    for (const [i, part] of parts.entries()) {
      if (i > 0 && options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
      if (socket.destroyed || socket.writableEnded) break;
      await new Promise<void>((resolve) =>
        socket.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part, () => resolve()),
      );
    }
    const closed = await ended;
    const elapsedMs = performance.now() - started;
    const raw = Buffer.concat(chunks);
    const responses = splitResponses(raw, options.head === true);
    return { responses, statuses: responses.map((r) => r.status), raw, closed, elapsedMs };
  } finally {
    socket.destroy();
  }
}

/**
 * Every complete final response in `buffer`, in order (1xx skipped; Content-Length framing).
 * `headFirst`: the first answers a HEAD request, so it has no body whatever its headers say.
 */
export function splitResponses(
  buffer: Buffer,
  headFirst = false,
): Array<Omit<RawResponse, 'raw' | 'closed'>> {
  const out: Array<Omit<RawResponse, 'raw' | 'closed'>> = [];
  let start = 0;
  for (;;) {
    const end = buffer.indexOf('\r\n\r\n', start);
    if (end === -1) return out;
    const head = parseHead(buffer, start, end);
    if (!head) return out;
    const { status, headers } = head;
    const bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      start = bodyStart;
      continue;
    }
    const length = headFirst && out.length === 0 ? 0 : Number(headers['content-length']?.[0] ?? 0);
    if (buffer.length < bodyStart + length) return out;
    out.push({ status, headers, body: buffer.subarray(bodyStart, bodyStart + length) });
    start = bodyStart + length;
  }
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
    const parsed = parseHead(buffer, start, end);
    if (!parsed) return undefined;
    const { status, headers } = parsed;
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

/** The status and headers (names lower-cased) of the head in `buffer[start, end)`; undefined if it is not a status line. */
function parseHead(
  buffer: Buffer,
  start: number,
  end: number,
): { status: number; headers: Record<string, string[]> } | undefined {
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
  return { status, headers };
}
