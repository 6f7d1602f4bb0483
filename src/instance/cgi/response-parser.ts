/**
 * Reads what a CGI script wrote to stdout (RFC 3875 section 6, SPEC S4.2): a header block
 * ended by an empty line, then the body. The output is bytes (up to 32 MiB, maybe binary):
 * only the header block is ever turned into text (latin1, byte for byte, as HTTP header
 * values are), and the body is a view into the same Buffer, never copied or decoded.
 *
 * Decisions where RFC 3875 leaves a choice:
 * - Lines may end in LF or CRLF; the empty line may be either. A header block without its
 *   empty line is an error (Apache: "premature end of script headers"), also when the output
 *   ends right after the headers: a script that forgets the empty line usually forgot more.
 * - A body without Content-Type is an error, not text/html: RFC 3875 6.3.1 says the script
 *   MUST send one and the server SHOULD NOT guess, and guessing text/html would render a
 *   script's JSON or binary output as a page. An empty body needs none (`Status: 204`).
 * - `Location: /path` without Status is a local redirect only when nothing else comes with
 *   it (RFC 3875 6.2.2); Content-Type is tolerated and ignored, as Apache does. With other
 *   headers (say Set-Cookie) or a body it is answered as a 302 to the client instead, so
 *   nothing the script sent is silently dropped. `//host/path` is a client redirect.
 * - Status must be 200..599 (a 1xx cannot be a final response); a missing reason phrase is
 *   filled in from the standard one. Status, Location and Content-Type may appear once.
 * - Folded header lines (obsolete in HTTP) and control characters in values are errors: a CR
 *   inside a value would split the header when the front end writes it.
 */
import { STATUS_CODES } from 'node:http';

/** A response to send to the client: an RFC 3875 document or client-redirect response. */
export interface CgiHttpResponse {
  status: number;
  /** The script's reason phrase, or the standard one for the status, or "". */
  reason: string;
  /** Flat `[name, value, ...]` in the script's order and spelling, Status removed; repeats kept. */
  headers: string[];
  /** Everything after the empty line: a view into the script's output, not a copy. */
  body: Buffer;
}

/** What a script's output asks the platform to do. */
export type CgiResponse =
  | ({ kind: 'document' } & CgiHttpResponse)
  | ({ kind: 'client-redirect'; location: string } & CgiHttpResponse)
  /** Re-dispatch `location` (path and query) inside the platform, as a GET of the same client. */
  | { kind: 'local-redirect'; location: string }
  /** The output breaks the CGI rules; `message` says what was wrong and how to fix it. */
  | { kind: 'error'; message: string };

/** Header blocks longer than this are refused: a script that writes that much is not writing headers. */
export const MAX_HEADER_BLOCK_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;
/** `Name: value`; the name is an RFC 9110 token. */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
/** How a header line starts: enough to tell headers from a body written without any. */
const HEADER_START = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/;
const NPH_STATUS_LINE = /^HTTP\/\d/;
const STATUS_VALUE = /^(\d{3})(?:[ \t]+(.*))?$/;
/** Control characters other than tab, which HTTP header values may not hold. */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * Splits a CGI script's stdout into what the platform answers.
 *
 * @example
 * parseCgiOutput(Buffer.from('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such page'));
 * // { kind: 'document', status: 404, reason: 'Not Found', headers: ['Content-Type', 'text/plain'], body: <Buffer ...> }
 * parseCgiOutput(Buffer.from('Location: /elsewhere?x=1\n\n'));
 * // { kind: 'local-redirect', location: '/elsewhere?x=1' }
 */
export function parseCgiOutput(output: Buffer): CgiResponse {
  if (output.length === 0) {
    return error(
      'the script wrote nothing to stdout: it must write headers such as Content-Type: text/html, then an empty line, then the body',
    );
  }
  // The first line tells a script that forgot its headers (or wrote NPH) from one whose headers
  // are wrong; a few hundred bytes suffice, also when the "line" is megabytes of binary body.
  const firstLf = output.indexOf(LF);
  const firstLine = output.toString('latin1', 0, Math.min(firstLf === -1 ? output.length : firstLf, 256));
  if (NPH_STATUS_LINE.test(firstLine)) {
    return error(
      `NPH scripts are not supported: the output starts with a status line (${quote(firstLine)}); write a header such as Status: 200 OK instead`,
    );
  }
  if (!HEADER_START.test(firstLine)) return error(noHeaderBlock(firstLine));

  const headers: string[] = [];
  let status: string | undefined;
  let location: string | undefined;
  let contentType: string | undefined;
  let lineNumber = 0;
  let start = 0;
  for (;;) {
    const lf = output.indexOf(LF, start);
    const end = lf === -1 ? output.length : lf;
    if (end > MAX_HEADER_BLOCK_BYTES) {
      return error(
        `the script's header block is longer than ${MAX_HEADER_BLOCK_BYTES / 1024} KiB (or never ends): end the headers with an empty line and move large data into the body`,
      );
    }
    if (lf === -1) {
      return error(
        "the script's output ends inside its header block: after the headers it must write an empty line, then the body (if any)",
      );
    }
    const line = output.toString('latin1', start, end > start && output[end - 1] === CR ? end - 1 : end);
    lineNumber++;
    start = lf + 1;
    if (line === '') break;
    const match = HEADER_LINE.exec(line);
    if (!match || CONTROL.test(line)) {
      return error(
        `line ${lineNumber} of the script's headers is malformed: ${quote(line)}; each header must be one line "Name: value" without control characters, and the headers end with an empty line`,
      );
    }
    const name = match[1]!;
    const value = match[2]!;
    const lower = name.toLowerCase();
    if (lower === 'status' || lower === 'location' || lower === 'content-type') {
      const seen = lower === 'status' ? status : lower === 'location' ? location : contentType;
      if (seen !== undefined) return error(`the script sent ${name} twice: send it once`);
      if (lower === 'status') status = value;
      else if (lower === 'location') location = value;
      else contentType = value;
    }
    if (lower !== 'status') headers.push(name, value);
  }
  const body = output.subarray(start);

  let code = 200;
  let reason = '';
  if (status !== undefined) {
    const parsed = STATUS_VALUE.exec(status);
    code = parsed ? Number(parsed[1]) : 0;
    if (!parsed || code < 200 || code > 599) {
      return error(
        `the script's Status header is invalid: ${quote(status)}; it must be a status code from 200 to 599, optionally followed by a reason, e.g. Status: 404 Not Found`,
      );
    }
    reason = parsed[2] ?? '';
  }
  if (location === '')
    return error('the script sent an empty Location header: give a path or an absolute URL');
  if (location !== undefined && status === undefined) {
    const alone = headers.every((header, i) => i % 2 === 1 || /^(location|content-type)$/i.test(header));
    if (isLocalPath(location) && alone && body.length === 0) return { kind: 'local-redirect', location };
    code = 302;
  }
  if (body.length > 0 && contentType === undefined) {
    return error(
      'the script wrote a body but no Content-Type header: add one such as Content-Type: text/html before the empty line that ends the headers',
    );
  }
  reason ||= STATUS_CODES[code] ?? '';
  // A Location with a non-3xx status is a document that names a resource (201 Created).
  return location !== undefined && code >= 300 && code < 400
    ? { kind: 'client-redirect', location, status: code, reason, headers, body }
    : { kind: 'document', status: code, reason, headers, body };
}

/** An absolute path on this host (`/a`), not a network-path reference (`//host/a`). */
function isLocalPath(location: string): boolean {
  return location.startsWith('/') && !location.startsWith('//');
}

function noHeaderBlock(firstLine: string): string {
  const start = firstLine === '' ? 'it starts with an empty line' : `it starts with ${quote(firstLine)}`;
  return `the script's output has no header block (${start}): it must start with headers such as Content-Type: text/html, then an empty line, then the body`;
}

/** A line for a message: JSON-quoted (control characters visible) and cut to a readable length. */
function quote(line: string): string {
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}...` : line);
}

function error(message: string): CgiResponse {
  return { kind: 'error', message };
}
