/**
 * The HTTP/1.1 side of the egress proxy as pure functions: reading a request head (RFC 9112
 * §2–§5), the authority-form target of CONNECT (RFC 9110 §9.3.6) and the proxy's own answers.
 * Hand-written because the proxy reads exactly one head and then stops being HTTP; Node's
 * parser would need the connection handed over after the first byte was sniffed.
 */
import { STATUS_CODES } from 'node:http';
import type { Step } from './handshake-reader.js';

/** The longest request head read (request line and headers), as Node's own `maxHeaderSize`. */
export const MAX_HEAD_BYTES = 16 * 1024;

export interface RequestHead {
  method: string;
  /** The request target as sent: `host:port` for CONNECT, an absolute URL for a forward proxy request. */
  target: string;
  version: '1.0' | '1.1';
  headers: Array<[name: string, value: string]>;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) (\\S+) HTTP/(\\d)\\.(\\d)$`);
const HEADER_LINE = new RegExp(`^(${TOKEN}):[ \\t]*(.*?)[ \\t]*$`);
const TERMINATOR = Buffer.from('\r\n\r\n');

const bad = (code: number, reason: string) => ({ kind: 'bad', code, reason }) as const;

/**
 * Reads one request head: `more` until the empty line that ends it, `bad` with 431 past
 * `maxBytes`, with 400 for a malformed request line or header line (obsolete line folding
 * included, as RFC 9112 §5.2 lets a server do), with 505 for an HTTP version other than 1.x.
 * Empty lines before the request line are skipped (RFC 9112 §2.2).
 */
export function parseRequestHead(buf: Buffer, maxBytes = MAX_HEAD_BYTES): Step<RequestHead> {
  let start = 0;
  while (buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  const end = buf.indexOf(TERMINATOR, start);
  if (end === -1 ? buf.length >= maxBytes : end + TERMINATOR.length > maxBytes) {
    return bad(431, `the request head is longer than ${maxBytes} bytes`);
  }
  if (end === -1) return { kind: 'more' };
  const [requestLine = '', ...headerLines] = buf.toString('latin1', start, end).split('\r\n');
  const request = REQUEST_LINE.exec(requestLine);
  if (!request || /[\0\r\n]/.test(requestLine))
    return bad(400, 'the request line is not METHOD TARGET HTTP/1.1');
  const [, method = '', target = '', major, minor] = request;
  if (major !== '1' || (minor !== '0' && minor !== '1')) {
    return bad(505, `HTTP/${major}.${minor} is not spoken here; use HTTP/1.1`);
  }
  const headers: Array<[string, string]> = [];
  for (const text of headerLines) {
    const header = HEADER_LINE.exec(text);
    if (!header || /[\0\r\n]/.test(text)) return bad(400, `malformed header line '${printable(text)}'`);
    headers.push([header[1]!.toLowerCase(), header[2]!]);
  }
  return {
    kind: 'done',
    value: { method, target, version: minor === '0' ? '1.0' : '1.1', headers },
    size: end + TERMINATOR.length,
  };
}

/**
 * The destination of `CONNECT host:port`: a name or IPv4 literal, or a bracketed IPv6 literal,
 * and a decimal port from 1 to 65535 (the port is required, RFC 9110 §9.3.6). Undefined when
 * the target is not of that form.
 */
export function parseConnectTarget(target: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]/@?#\\\s]+)):(\d{1,5})$/.exec(target);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

/** The answer that opens a tunnel; the connection carries the tunnel's bytes right after it. */
export const CONNECTION_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n');

/**
 * A final answer with a plain-text body, after which the proxy closes the connection:
 * `httpAnswer(403, message)`.
 */
export function httpAnswer(status: number, body: string, headers: Record<string, string> = {}): Buffer {
  const text = `${body}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    'Connection: close',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${text}`);
}

function printable(text: string): string {
  return JSON.stringify(text.slice(0, 80)).slice(1, -1);
}
