import type { Writable } from 'node:stream';

/** The platform's own log (not app request logs): one abstraction, so no stray console calls. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A line as is, e.g. the per-request line of the dev terminal. */
  raw(line: string): void;
  readonly color: boolean;
}

const codes = { red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36, gray: 90, bold: 1 } as const;
export type Color = keyof typeof codes;

/** Colours only when writing to a terminal (and NO_COLOR is unset), never into files or pipes. */
export function createLogger(stream: Writable & { isTTY?: boolean } = process.stderr): Logger {
  const color = Boolean(stream.isTTY) && !process.env.NO_COLOR;
  const paint = (c: Color, text: string) => (color ? `\x1b[${codes[c]}m${text}\x1b[0m` : text);
  return {
    color,
    info: (m) => stream.write(`${m}\n`),
    warn: (m) => stream.write(`${paint('yellow', 'warning:')} ${m}\n`),
    error: (m) => stream.write(`${paint('red', 'error:')} ${m}\n`),
    raw: (line) => stream.write(`${line}\n`),
  };
}

export function paint(enabled: boolean, c: Color, text: string): string {
  return enabled ? `\x1b[${codes[c]}m${text}\x1b[0m` : text;
}
