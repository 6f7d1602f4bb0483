/**
 * SPEC S5 step 2 for what never becomes a 'request' event: requests Node's parser refused
 * (`clientError`, including Node's header and request timeouts), CONNECT (`connect`), idle
 * sockets (`timeout`), and connections over the caps (`limits.max_connections`,
 * `limits.max_connections_per_client`). Node's own handling would answer some of them with no
 * request id and no log line, or not at all; here each gets its id, a clear status, and a
 * RequestRecord whose `error` names the rule or limit hit. Nothing here reaches an instance.
 *
 * An answer written here must not overtake the answers to requests before it on the same
 * connection (pipelining): while any is in progress it waits for them (connection-state.ts
 * whenIdle), and after an answer that closes the connection nothing more is answered at all.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { HangarError } from '../shared/errors.js';
import { newRequestId } from '../shared/request-id.js';
import type { RequestRecord } from '../shared/request-record.js';
import {
  abortBodyRead,
  closeAfterAnswer,
  hasHadRequests,
  isBusy,
  isClosing,
  whenIdle,
} from './connection-state.js';
import { errorAnswer } from './error-response.js';
import type { FrontendOptions } from './options.js';
import { newRequestRecord } from './request-record.js';
import { takeWireBytes } from './wire-bytes.js';

type ParserError = Error & { code?: string; rawPacket?: Buffer };

// llhttp's error codes for what S5 step 2 calls ambiguous framing, in words a client can act on.
const parserReasons: Record<string, string> = {
  HPE_UNEXPECTED_CONTENT_LENGTH: 'duplicate Content-Length, or Content-Length with Transfer-Encoding',
  HPE_INVALID_TRANSFER_ENCODING:
    "Transfer-Encoding must be a single 'chunked' (and not together with Content-Length)",
  HPE_INVALID_CONTENT_LENGTH: 'Content-Length must be one decimal number',
  HPE_INVALID_CHUNK_SIZE: 'malformed chunk size in the chunked body',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'chunk extensions longer than 16 KiB',
  HPE_INVALID_HEADER_TOKEN: 'malformed header line (bad character, space before the colon, or line folding)',
  HPE_INVALID_METHOD: 'unknown or malformed method',
  HPE_INVALID_URL: 'malformed request target',
  HPE_INVALID_VERSION: 'malformed HTTP version (or a bare LF line ending)',
  HPE_CR_EXPECTED: 'a line must end in CR LF (a bare LF or CR)',
  HPE_LF_EXPECTED: 'a line must end in CR LF (a bare LF or CR)',
  HPE_STRICT: 'malformed chunked body (chunk data not followed by CR LF, or a bad chunk extension)',
  HPE_PAUSED_H2_UPGRADE: 'HTTP/2 is not served here; use HTTP/1.1',
};

/** Refusals over the connection caps are logged once per address per this interval. */
const refusalLogIntervalMs = 60_000;

/** The `clientError`, `connect`, `timeout`, `drop` listeners of a front-end server, and its connection refusals. */
export function earlyRejections(options: FrontendOptions) {
  const answered = new WeakSet<Socket>();
  const refusals = new RefusalLog(refusalLogIntervalMs);

  /**
   * Writes a one-off answer on a connection Node's HTTP machinery has given up on, then closes
   * it. With `linger`, what the client still sends is read and discarded until it closes or
   * 2 s pass: closing with unread data would make the kernel reset the connection and lose the
   * answer. Without, the socket is destroyed as soon as the answer is flushed.
   */
  const answerOnSocket = (
    socket: Socket,
    record: RequestRecord | undefined,
    error: HangarError,
    extra: Record<string, string> = {},
    linger = true,
  ) => {
    const answer = errorAnswer(error, {
      expose: options.exposeErrors,
      headers: { ...extra, connection: 'close' },
    });
    if (record) {
      record.status = answer.status;
      record.error ??= answer.logLine;
    }
    answered.add(socket);
    if (socket.writable) {
      closeAfterAnswer(socket, false);
      const head = [
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`,
        `server: ${options.serverSoftware}`,
        `date: ${new Date().toUTCString()}`,
        ...Object.entries(answer.headers).map(([name, value]) => `${name}: ${value}`),
      ];
      // In the request journal before the answer goes out (logs/request-journal.ts).
      if (record) options.journal?.write(record);
      socket.end(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), answer.body]));
      if (linger) {
        socket.on('data', () => {});
        socket.resume();
        const timer = setTimeout(() => socket.destroy(), 2_000).unref();
        socket.once('close', () => clearTimeout(timer));
      } else {
        socket.once('finish', () => socket.destroy());
      }
    } else {
      socket.destroy();
    }
    if (record) finish(socket, record);
  };

  const finish = (socket: Socket, record: RequestRecord) => {
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const wire = takeWireBytes(socket);
      record.bytesIn = wire.bytesIn;
      record.bytesOut = wire.bytesOut;
      options.onRequest?.(record);
    };
    // Logged once the answer is handed to the kernel, not when the lingering close ends.
    if (socket.destroyed || socket.writableFinished) done();
    else socket.once('finish', done).once('close', done);
  };

  /**
   * The request-log record of a refusal over a connection cap, or undefined when this address
   * already had one within the interval (the next one counts those skipped).
   */
  const refusalRecord = (address: string, message: string): RequestRecord | undefined => {
    const skipped = refusals.take(address, Date.now());
    if (skipped === undefined) return undefined;
    const more = skipped > 0 ? ` (${skipped} more refused since the last line)` : '';
    const error = new HangarError('TOO_MANY_CONNECTIONS', `${message}${more}`);
    return {
      ...connectionRecord(address, options.https === true),
      status: error.status,
      error: `${error.code}: ${error.message}`,
    };
  };

  return {
    clientError(err: ParserError, socket: Socket): void {
      // A parser error repeats for every further chunk of data; answer the first one only.
      if (answered.has(socket)) return;
      const error = parserErrorToHangar(err, options);
      if (!error) {
        // A socket error (ECONNRESET, ...), not a request: nothing to answer or log.
        socket.destroy();
        return;
      }
      // A malformed chunked body of a request being read: that request answers with the 400.
      if (abortBodyRead(socket, error)) return;
      answered.add(socket);
      // An answer before it closes the connection, or bytes after a request that said
      // `Connection: close` (or HTTP/1.0 without keep-alive): not read as a request, not answered.
      if (isClosing(socket)) return;
      if (err.code === 'HPE_CLOSED_CONNECTION') {
        socket.pause();
        return;
      }
      // The packet starts a request only on a fresh connection; behind earlier requests the
      // refused one's first line is not known, so it is logged as `- -`.
      const record = hasHadRequests(socket)
        ? connectionRecord(socket.remoteAddress, options.https === true)
        : recordFromPacket(err.rawPacket, options.https === true, socket);
      // Nothing after the refused bytes is a request; the answer waits for those before it.
      socket.pause();
      whenIdle(socket, () => {
        if (!isClosing(socket)) answerOnSocket(socket, record, error);
      });
    },

    connect(req: IncomingMessage, socket: Socket): void {
      if (isClosing(socket)) {
        // Pipelined behind an answer that closes the connection: Node closes it after that one.
        if (!isBusy(socket)) socket.destroy();
        return;
      }
      const record = newRequestRecord(req, options.https === true);
      whenIdle(socket, () => {
        if (isClosing(socket)) return;
        answerOnSocket(
          socket,
          record,
          new HangarError('METHOD_NOT_ALLOWED', 'CONNECT is not served (S5 step 2)'),
          { allow: 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH' },
        );
      });
    },

    /**
     * The socket's idle timer fired (listener.ts arms it for a new connection's first request,
     * Node for keep-alive): an idle connection is closed; one with a request in progress is left
     * to that request (its deadline, the body idle timeout).
     */
    timeout(socket: Socket): void {
      if (!isBusy(socket)) socket.destroy();
    },

    /**
     * A new connection from an address that already holds `limit` open ones: over HTTP a 503
     * with `Connection: close`, written at once and not waiting for the request, then closed;
     * over HTTPS (no TLS handshake spent on it) closed at once.
     */
    refuseClient(socket: Socket, address: string, limit: number, tls: boolean): void {
      const message = `${address} already has limits.max_connections_per_client (${limit}) open connections; a new one was ${tls ? 'closed at once' : 'answered 503'}`;
      const record = refusalRecord(address, message);
      if (tls) {
        socket.destroy();
        if (record) options.onRequest?.(record);
        return;
      }
      answerOnSocket(
        socket,
        record,
        new HangarError(
          'TOO_MANY_CONNECTIONS',
          `this client already has limits.max_connections_per_client (${limit}) open connections; reuse or close one`,
        ),
        { 'retry-after': '1' },
        false,
      );
    },

    /** `drop`: Node closed a connection at once because the listener holds `limits.max_connections`. */
    dropped(data?: { remoteAddress?: string }): void {
      const address = data?.remoteAddress ?? '-';
      const record = refusalRecord(
        address,
        `the listener already has limits.max_connections (${options.limits.maxConnections}) open connections; a connection from ${address} was closed at once`,
      );
      if (record) options.onRequest?.(record);
    },
  };
}

function parserErrorToHangar(err: ParserError, options: FrontendOptions): HangarError | undefined {
  const code = err.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new HangarError(
      'REQUEST_HEADERS_TOO_LARGE',
      `the request's headers exceed limits.max_header_bytes (${options.limits.maxHeaderBytes} bytes of target, names and values)`,
    );
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new HangarError(
      'REQUEST_TIMEOUT',
      `the client did not send the request's headers within limits.header_timeout (${options.limits.headerTimeoutMs} ms), or the whole request within 5 minutes`,
    );
  }
  if (!code.startsWith('HPE_')) return undefined;
  const reason = parserReasons[code] ?? 'the request is not valid HTTP/1.1';
  return new HangarError('REQUEST_MALFORMED', `${reason} (${code})`);
}

/** Method and target from the bytes the parser refused, when its first line is readable. */
function recordFromPacket(packet: Buffer | undefined, secure: boolean, socket: Socket): RequestRecord {
  const line = packet?.subarray(0, 2048).toString('latin1').split(/\r?\n/, 1)[0] ?? '';
  const m = /^([A-Z]{1,20}) (\S{1,2000}) HTTP\/(\d\.\d)$/.exec(line);
  return {
    ...connectionRecord(socket.remoteAddress, secure),
    method: m?.[1] ?? '-',
    resource: m?.[2] ?? '-',
    ...(m ? { httpVersion: m[3]! } : {}),
  };
}

/** A record for something on a connection that is not (or not known to be) a request. */
function connectionRecord(ip: string | undefined, secure: boolean): RequestRecord {
  return {
    requestId: newRequestId(),
    startTime: Date.now(),
    method: '-',
    resource: '-',
    status: 0,
    latencyMs: 0,
    bytesOut: 0,
    secure,
    ip,
  };
}

/**
 * When to log a refusal: the first from an address at once, then none for `intervalMs`; the
 * next line counts those skipped. Entries older than the interval are dropped as it grows.
 */
class RefusalLog {
  readonly #last = new Map<string, { at: number; skipped: number }>();

  constructor(readonly intervalMs: number) {}

  /** Undefined: do not log this one. A number: log it, with that many skipped before it. */
  take(address: string, now: number): number | undefined {
    const last = this.#last.get(address);
    if (last && now - last.at < this.intervalMs) {
      last.skipped++;
      return undefined;
    }
    if (this.#last.size >= 10_000) {
      for (const [key, entry] of this.#last) if (now - entry.at >= this.intervalMs) this.#last.delete(key);
    }
    this.#last.set(address, { at: now, skipped: 0 });
    return last?.skipped ?? 0;
  }
}
