/**
 * SPEC S5 step 2 for what never becomes a 'request' event: requests Node's parser refused
 * (`clientError`) and CONNECT (`connect`). Node's own handling would answer some of them with
 * no request id and no log line; here each gets its id, a clear status, and a RequestRecord
 * whose `error` names the rule or limit hit. Nothing here reaches an instance.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { HangarError } from '../shared/errors.js';
import { newRequestId } from '../shared/request-id.js';
import type { RequestRecord } from '../shared/request-record.js';
import { abortBodyRead, isBusy } from './connection-state.js';
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
  HPE_INVALID_HEADER_TOKEN: 'malformed header line (bad character, space before the colon, or line folding)',
  HPE_INVALID_METHOD: 'unknown or malformed method',
  HPE_INVALID_URL: 'malformed request target',
  HPE_INVALID_VERSION: 'malformed HTTP version (or a bare LF line ending)',
  HPE_PAUSED_H2_UPGRADE: 'HTTP/2 is not served here; use HTTP/1.1',
};

/** The `clientError` and `connect` listeners of a front-end server. */
export function earlyRejections(options: FrontendOptions) {
  const answered = new WeakSet<Socket>();

  /** Writes a one-off answer on a connection Node's HTTP machinery has given up on, then closes it. */
  const answerOnSocket = (socket: Socket, record: RequestRecord, error: HangarError, extra = {}) => {
    const answer = errorAnswer(error, {
      expose: options.exposeErrors,
      headers: { ...extra, connection: 'close' },
    });
    record.status = answer.status;
    record.error = answer.logLine;
    if (socket.writable && !answered.has(socket)) {
      answered.add(socket);
      const head = [
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}`,
        `server: ${options.serverSoftware}`,
        `date: ${new Date().toUTCString()}`,
        ...Object.entries(answer.headers).map(([name, value]) => `${name}: ${value}`),
      ];
      socket.end(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), answer.body]));
      // Keep reading (and discarding) what the client still sends until it closes or 2 s pass:
      // closing with unread data would make the kernel reset the connection and lose the answer.
      socket.on('data', () => {});
      socket.resume();
      const timer = setTimeout(() => socket.destroy(), 2_000).unref();
      socket.once('close', () => clearTimeout(timer));
    } else {
      socket.destroy();
    }
    finish(socket, record);
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
      const record = recordFromPacket(err.rawPacket, options.https === true, socket);
      if (isBusy(socket)) {
        // Garbage pipelined behind a request still being answered: no clean place for a response.
        record.status = error.status;
        record.error = `${error.code}: ${error.message}`;
        answered.add(socket);
        socket.destroy();
        finish(socket, record);
        return;
      }
      answerOnSocket(socket, record, error);
    },

    connect(req: IncomingMessage, socket: Socket): void {
      const record = newRequestRecord(req, options.https === true);
      answerOnSocket(
        socket,
        record,
        new HangarError('METHOD_NOT_ALLOWED', 'CONNECT is not served (S5 step 2)'),
        {
          allow: 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH',
        },
      );
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
    return new HangarError('REQUEST_TIMEOUT', 'the client did not send the whole request in time');
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
    requestId: newRequestId(),
    startTime: Date.now(),
    method: m?.[1] ?? '-',
    resource: m?.[2] ?? '-',
    ...(m ? { httpVersion: m[3]! } : {}),
    status: 0,
    latencyMs: 0,
    bytesOut: 0,
    secure,
    ip: socket.remoteAddress,
  };
}
