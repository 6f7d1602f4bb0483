import type { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { HangarError } from './errors.js';

/** The platform's own log (not app request logs): one abstraction, so no stray console calls. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A line as is, e.g. the per-request line of the dev terminal (JSON lines: an `info` object). */
  raw(line: string): void;
  /** Writes what is buffered now (before exiting). */
  flush(): void;
  /** Whether callers may colour what they log: only in text mode on a terminal. */
  readonly color: boolean;
  /**
   * The file descriptor the logger writes to, when its stream has one: the request log's worker
   * thread writes the dev terminal's request lines there directly. Undefined in JSON-lines mode,
   * where nothing else may write between the logger's lines (so no per-request terminal lines).
   */
  readonly fd: number | undefined;
}

/**
 * How a logger writes. `text`: the line as given, `warning:`/`error:` prefixes, colours on a
 * terminal (what `hangar dev` prints). `json`: one object per line,
 * `{"time": ISO 8601, "level": "info"|"warning"|"error", "message": ...}`, never a colour code,
 * for a log collector (journald, Docker, a file) to parse.
 */
export type LogFormat = 'text' | 'json';

export interface LoggerOptions {
  /** Default `text`. */
  format?: LogFormat;
  /** Epoch ms of a JSON line's `time`; default `Date.now`. */
  now?: () => number;
}

/** The environment variable that overrides {@link pickLogFormat}'s choice. */
export const LOG_FORMAT_ENV = 'HANGAR_LOG_FORMAT';

const codes = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Color = keyof typeof codes;

type LogStream = Writable & { isTTY?: boolean; fd?: number };

/**
 * Colours only when writing to a terminal (and NO_COLOR is unset), never into files or pipes.
 *
 * Lines are coalesced into one write per event-loop turn: stdout to a terminal, file or pipe is
 * a synchronous write on Linux, and one syscall per request line (blocking whenever the reader
 * lags) cost the dev server a large share of its throughput.
 *
 * @example
 * const logger = createLogger(process.stdout); // text, as `hangar dev` prints
 * const json = createLogger(process.stderr, { format: 'json' });
 * json.warn('disk almost full'); // {"time":"2026-01-01T10:00:00.000Z","level":"warning","message":"disk almost full"}
 */
export function createLogger(stream: LogStream = process.stderr, options: LoggerOptions = {}): Logger {
  const json = options.format === 'json';
  const now = options.now ?? Date.now;
  const color = !json && Boolean(stream.isTTY) && !process.env.NO_COLOR;
  const paint = (c: Color, text: string) => (color ? `\x1b[${codes[c]}m${text}\x1b[0m` : text);
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!pending) return;
    const out = pending;
    pending = '';
    stream.write(out);
  };
  const line = (text: string) => {
    pending += `${text}\n`;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  if (json) {
    // JSON.stringify escapes newlines, so a message of several lines is still one line here; a
    // colour code painted by a caller (or carried in an instance's output) is taken out.
    const entry = (level: 'info' | 'warning' | 'error', message: string) =>
      line(
        JSON.stringify({
          time: new Date(now()).toISOString(),
          level,
          message: message.includes('\x1b') ? stripVTControlCharacters(message) : message,
        }),
      );
    return {
      color: false,
      fd: undefined,
      info: (m) => entry('info', m),
      warn: (m) => entry('warning', m),
      error: (m) => entry('error', m),
      raw: (m) => entry('info', m),
      flush,
    };
  }
  return {
    color,
    fd: typeof stream.fd === 'number' ? stream.fd : undefined,
    info: (m) => line(m),
    warn: (m) => line(`${paint('yellow', 'warning:')} ${m}`),
    error: (m) => line(`${paint('red', 'error:')} ${m}`),
    raw: line,
    flush,
  };
}

/**
 * The format of the platform's own log on `stream`: `HANGAR_LOG_FORMAT` (`json` or `text`) when
 * set, else text on a terminal and JSON lines when not (a pipe, a file, a container's log).
 * Another value of `HANGAR_LOG_FORMAT` is a usage error naming the two that fit.
 *
 * @example pickLogFormat(process.stderr) // 'json' under systemd or `docker run` without -t
 */
export function pickLogFormat(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): LogFormat {
  const wanted = env[LOG_FORMAT_ENV]?.trim().toLowerCase();
  if (wanted === 'json' || wanted === 'text') return wanted;
  if (wanted) {
    throw new HangarError(
      'USAGE',
      `${LOG_FORMAT_ENV} must be json or text, not '${env[LOG_FORMAT_ENV]}'; unset it to get text on a terminal and JSON lines otherwise`,
    );
  }
  return stream.isTTY ? 'text' : 'json';
}

/**
 * A logger in the format {@link pickLogFormat} picks for `stream`: what `hangar serve` logs
 * with (the platform's own log only; JSON lines when not on a terminal).
 *
 * @example
 * const logger = createPlatformLogger(process.stderr);
 */
export function createPlatformLogger(
  stream: LogStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): Logger {
  return createLogger(stream, { format: pickLogFormat(stream, env) });
}

export function paint(enabled: boolean, c: Color, text: string): string {
  return enabled ? `\x1b[${codes[c]}m${text}\x1b[0m` : text;
}
