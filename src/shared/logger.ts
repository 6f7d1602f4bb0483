import type { Writable } from 'node:stream';

/** The platform's own log (not app request logs): one abstraction, so no stray console calls. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A line as is, e.g. the per-request line of the dev terminal. */
  raw(line: string): void;
  /** Writes what is buffered now (before exiting). */
  flush(): void;
  readonly color: boolean;
  /**
   * The file descriptor the logger writes to, when its stream has one: the request log's worker
   * thread writes the dev terminal's request lines there directly.
   */
  readonly fd: number | undefined;
}

const codes = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Color = keyof typeof codes;

/**
 * Colours only when writing to a terminal (and NO_COLOR is unset), never into files or pipes.
 *
 * Lines are coalesced into one write per event-loop turn: stdout to a terminal, file or pipe is
 * a synchronous write on Linux, and one syscall per request line (blocking whenever the reader
 * lags) cost the dev server a large share of its throughput.
 */
export function createLogger(stream: Writable & { isTTY?: boolean; fd?: number } = process.stderr): Logger {
  const color = Boolean(stream.isTTY) && !process.env.NO_COLOR;
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

export function paint(enabled: boolean, c: Color, text: string): string {
  return enabled ? `\x1b[${codes[c]}m${text}\x1b[0m` : text;
}
