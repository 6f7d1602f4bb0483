import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLogger, createPlatformLogger, type Logger, pickLogFormat } from './logger.js';

const run = promisify(execFile);

/** A stream that keeps what is written, one chunk per write, and says whether it is a terminal. */
function fakeStream(isTTY: boolean): Writable & { isTTY: boolean; chunks: string[]; fd?: number } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(stream, { isTTY, chunks });
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Every line parsed back; each must be a whole JSON object. */
function parseLines(text: string): Array<Record<string, unknown>> {
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function logEach(logger: Logger): void {
  logger.info('started on port 8080');
  logger.warn('disk almost full');
  logger.error('instance exited: code 1\n  at handler (main.js:3)');
  logger.raw('a raw line with "quotes" and \\ backslash');
}

describe('createLogger: JSON lines', () => {
  it('writes one object per call, one per line, with time, level and message', async () => {
    const stream = fakeStream(false);
    let t = Date.parse('2026-01-01T10:00:00.000Z');
    const logger = createLogger(stream, { format: 'json', now: () => t++ });
    logEach(logger);
    await nextTurn();
    const text = stream.chunks.join('');
    expect(parseLines(text)).toEqual([
      { time: '2026-01-01T10:00:00.000Z', level: 'info', message: 'started on port 8080' },
      { time: '2026-01-01T10:00:00.001Z', level: 'warning', message: 'disk almost full' },
      {
        time: '2026-01-01T10:00:00.002Z',
        level: 'error',
        message: 'instance exited: code 1\n  at handler (main.js:3)',
      },
      {
        time: '2026-01-01T10:00:00.003Z',
        level: 'info',
        message: 'a raw line with "quotes" and \\ backslash',
      },
    ]);
    // The keys in this order, nothing else.
    expect(text.split('\n')[0]).toBe(
      '{"time":"2026-01-01T10:00:00.000Z","level":"info","message":"started on port 8080"}',
    );
    // Still one write per event-loop turn.
    expect(stream.chunks).toHaveLength(1);
  });

  it('never writes a colour code, also on a terminal or when a caller painted one', async () => {
    const stream = fakeStream(true);
    const logger = createLogger(stream, { format: 'json' });
    expect(logger.color).toBe(false);
    logger.warn('plain');
    logger.raw('\x1b[90m[default 1234abcd]\x1b[0m hello \x1b[1;31mred\x1b[0m');
    logger.flush();
    const text = stream.chunks.join('');
    expect(text).not.toContain('\x1b');
    const lines = parseLines(text);
    expect(lines.map((l) => l.message)).toEqual(['plain', '[default 1234abcd] hello red']);
    expect(lines.every((l) => !Number.isNaN(Date.parse(String(l.time))))).toBe(true);
  });

  it('offers no file descriptor: nothing may write text lines between the JSON ones', () => {
    const stream = Object.assign(fakeStream(false), { fd: 2 });
    expect(createLogger(stream, { format: 'json' }).fd).toBeUndefined();
    expect(createLogger(stream).fd).toBe(2);
  });
});

describe('createLogger: text (unchanged)', () => {
  it('writes the lines as they were, with coloured prefixes only on a terminal', async () => {
    const pipe = fakeStream(false);
    logEach(createLogger(pipe));
    await nextTurn();
    expect(pipe.chunks.join('')).toBe(
      'started on port 8080\nwarning: disk almost full\nerror: instance exited: code 1\n  at handler (main.js:3)\na raw line with "quotes" and \\ backslash\n',
    );
    const saved = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    try {
      const tty = fakeStream(true);
      const logger = createLogger(tty);
      expect(logger.color).toBe(true);
      logger.warn('w');
      logger.flush();
      expect(tty.chunks.join('')).toBe('\x1b[33mwarning:\x1b[0m w\n');
    } finally {
      if (saved !== undefined) process.env.NO_COLOR = saved;
    }
  });
});

describe('pickLogFormat / createPlatformLogger', () => {
  it('picks text on a terminal and JSON lines otherwise', () => {
    expect(pickLogFormat({ isTTY: true }, {})).toBe('text');
    expect(pickLogFormat({ isTTY: false }, {})).toBe('json');
    expect(pickLogFormat({}, {})).toBe('json');
  });

  it('follows HANGAR_LOG_FORMAT over the terminal check, and refuses other values', () => {
    expect(pickLogFormat({ isTTY: true }, { HANGAR_LOG_FORMAT: 'json' })).toBe('json');
    expect(pickLogFormat({ isTTY: false }, { HANGAR_LOG_FORMAT: 'text' })).toBe('text');
    expect(pickLogFormat({ isTTY: true }, { HANGAR_LOG_FORMAT: ' JSON ' })).toBe('json');
    expect(pickLogFormat({ isTTY: true }, { HANGAR_LOG_FORMAT: '' })).toBe('text');
    expect(() => pickLogFormat({ isTTY: true }, { HANGAR_LOG_FORMAT: 'yaml' })).toThrow(
      /HANGAR_LOG_FORMAT must be json or text, not 'yaml'/,
    );
  });

  it('creates the logger in the picked format', async () => {
    const tty = fakeStream(true);
    const logger = createPlatformLogger(tty, { HANGAR_LOG_FORMAT: 'json' });
    logger.info('x');
    logger.flush();
    expect(parseLines(tty.chunks.join(''))).toMatchObject([{ level: 'info', message: 'x' }]);
    const pipe = fakeStream(false);
    createPlatformLogger(pipe, { HANGAR_LOG_FORMAT: 'text' }).info('y');
    await nextTurn();
    expect(pipe.chunks.join('')).toBe('y\n');
  });

  it('writes JSON lines into a real pipe (a child process whose stderr is piped)', async () => {
    const script = `
      import { createPlatformLogger } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).href)};
      const logger = createPlatformLogger(process.stderr);
      for (let i = 0; i < 1000; i++) logger.info('line ' + i);
      logger.warn('\\x1b[33mpainted\\x1b[0m');
      logger.error('last');
    `;
    const tsx = new URL('../../node_modules/tsx/dist/esm/index.mjs', import.meta.url).href;
    const env = { ...process.env };
    delete env.HANGAR_LOG_FORMAT;
    const { stderr } = await run(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], {
      env,
    });
    const lines = parseLines(stderr);
    expect(lines).toHaveLength(1002);
    expect(lines[0]).toMatchObject({ level: 'info', message: 'line 0' });
    expect(lines[999]).toMatchObject({ level: 'info', message: 'line 999' });
    expect(lines.slice(1000)).toMatchObject([
      { level: 'warning', message: 'painted' },
      { level: 'error', message: 'last' },
    ]);
    for (const l of lines) expect(Object.keys(l)).toEqual(['time', 'level', 'message']);
  });
});
