/**
 * App log lines inside an instance (SPEC S9): `console.*` and `ctx.log.*` become lines with a
 * level and the id of the request they were written under (AsyncLocalStorage). A request that
 * came over the request channel keeps its lines and they leave with its response; all other
 * lines (outside requests, Node handlers, after a response) are batched and sent to the
 * platform over the IPC channel. Nothing here is awaited by a request: a line is
 * pushed onto an array and the batch leaves on a timer, after N lines, or when the instance
 * stops. While a batch is still being written (IPC back-pressure) new lines keep collecting,
 * so none is dropped and no request waits.
 */
import { format } from 'node:util';
import { LOG_LEVELS, type LogLevel } from '../shared/log-levels.js';
import type { AppLogLine, InstanceMessage } from '../shared/messages.js';
import type { PackedLines } from '../shared/request-channel.js';
import { type HeldLines, type RequestContext, requestStorage } from './request-context.js';

/** How long a line may wait for its batch; the platform holds a request's terminal line about as long. */
const FLUSH_MS = 20;
/** A batch this big leaves at once rather than waiting for the timer. */
const MAX_BATCH = 500;
/** A request holding this many lines sends them over IPC rather than keep them for its response. */
const MAX_HELD = 1000;
/** ...or this many characters: a response frame's header stays far below its 4 MiB limit. */
const MAX_HELD_CHARS = 512 * 1024;
/** Longer messages are cut; one runaway line must not make an IPC message of many megabytes. */
const MAX_MESSAGE_CHARS = 64 * 1024;
/**
 * Characters a JSON string cannot hold as they are (and surrogates, which JSON.stringify writes
 * as escapes when unpaired). A message without any is quoted as it is, at half the cost of
 * JSON.stringify, which was the dearest step of a line; and one test of all a request's
 * messages together costs less than one per message (each message is a rope the test must
 * first copy flat).
 */
const needsEscape = /["\\\u0000-\u001f\ud800-\udfff]/;
const allPlain = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;
/** A level's index in LOG_LEVELS: the request log's JSON stores levels as their index. */
const levelIndex = Object.fromEntries(LOG_LEVELS.map((level, i) => [level, i])) as Record<LogLevel, number>;

let buffer: AppLogLine[] = [];
/** captureConsole() has replaced the console's methods with ones that call logLine. */
let consoleCaptured = false;
let timer: NodeJS.Timeout | undefined;
let sending = false;
const drained: Array<() => void> = [];
/** The console as it was before capture: used when there is no platform to ship to. */
const original = {
  debug: console.debug.bind(console),
  info: console.info.bind(console),
  warn: console.warn.bind(console),
  error: console.error.bind(console),
};

/**
 * Records one line at `level`, under the current request if there is one.
 *
 * @example
 * logLine('warning', 'disk almost full');
 */
export function logLine(level: LogLevel, message: string): void {
  const text =
    message.length > MAX_MESSAGE_CHARS
      ? `${message.slice(0, MAX_MESSAGE_CHARS)}... (${message.length - MAX_MESSAGE_CHARS} more characters cut)`
      : message;
  const store = requestStorage.getStore();
  if (store?.lines !== undefined) {
    // An open request over the request channel: the line leaves with its response, written
    // into the form the request log stores when the response goes (packHeldLines).
    store.lines.push(Date.now(), levelIndex[level], text);
    store.heldChars += text.length;
    if (++store.heldLines >= MAX_HELD || store.heldChars >= MAX_HELD_CHARS) releaseLines(store);
    return;
  }
  if (!process.send) {
    // No IPC channel: an app's own server (entrypoint-preload.ts), whose console files a line
    // under its request as it is called now, or a unit test importing the app. The console of
    // the moment, unless this module captured it itself (then the one from before).
    const out = consoleCaptured ? original : console;
    (level === 'debug' ? out.debug : level === 'info' ? out.info : out.error)(message);
    return;
  }
  const requestId = store?.requestId;
  buffer.push(
    requestId
      ? { requestId, time: Date.now(), level, message: text }
      : { time: Date.now(), level, message: text },
  );
  if (buffer.length >= MAX_BATCH) ship();
  else timer ??= setTimeout(ship, FLUSH_MS);
}

/**
 * Records a line of request `requestId` written outside its context: the app's own server's
 * output (entrypoint.ts), read from a pipe. It goes over IPC, where the platform files it under
 * the request whether the request's entry is still open or already stored (a late line).
 *
 * @example
 * requestLine('5f1c...', 'warning', 'slow query');
 */
export function requestLine(requestId: string, level: LogLevel, message: string): void {
  const text =
    message.length > MAX_MESSAGE_CHARS
      ? `${message.slice(0, MAX_MESSAGE_CHARS)}... (${message.length - MAX_MESSAGE_CHARS} more characters cut)`
      : message;
  if (!process.send) {
    (level === 'debug' ? original.debug : level === 'info' ? original.info : original.error)(message);
    return;
  }
  buffer.push({ requestId, time: Date.now(), level, message: text });
  if (buffer.length >= MAX_BATCH) ship();
  else timer ??= setTimeout(ship, FLUSH_MS);
}

/**
 * Sends the lines a request holds over IPC instead, and lets its later lines go that way too:
 * for a request that logs a great deal, or whose response will not carry them (cancelled).
 */
export function releaseLines(context: RequestContext): void {
  const held = context.lines;
  context.lines = undefined;
  if (!held || held.length === 0) return;
  if (!process.send) {
    // No platform to send them to (a Knative pod, src/knative/): the process's output, as
    // later lines of the request go there too.
    for (let i = 0; i < held.length; i += 3) {
      const level = LOG_LEVELS[held[i + 1] as number]!;
      (level === 'debug' ? original.debug : level === 'info' ? original.info : original.error)(held[i + 2]);
    }
    return;
  }
  const requestId = context.requestId;
  for (let i = 0; i < held.length; i += 3) {
    const time = held[i] as number;
    const level = LOG_LEVELS[held[i + 1] as number]!;
    buffer.push({ requestId, time, level, message: held[i + 2] as string });
  }
  if (buffer.length >= MAX_BATCH) ship();
  else timer ??= setTimeout(ship, FLUSH_MS);
}

/**
 * A request's held lines in the form the request log stores (PackedLines):
 * `[[time,level,"message","message",...],...]`, one run per stretch of lines written in the same
 * millisecond at the same level (a request's lines mostly are: a fifth fewer bytes for every
 * step after this one). The platform passes this text on unread and stores it as it is.
 *
 * @example
 * packHeldLines([1763712244646, 1, 'hello', 1763712244646, 1, 'world']) // '[[1763712244646,1,"hello","world"]]'
 */
export function packHeldLines(held: HeldLines): PackedLines {
  if (held.length === 0) return '[]';
  let messages = '';
  for (let i = 2; i < held.length; i += 3) messages += held[i] as string;
  const plain = allPlain.test(messages);
  let text = '';
  let runTime = -1;
  let runLevel = -1;
  for (let i = 0; i < held.length; i += 3) {
    const time = held[i] as number;
    const level = held[i + 1] as number;
    const message = held[i + 2] as string;
    const quoted = plain || !needsEscape.test(message) ? `"${message}"` : JSON.stringify(message);
    if (time === runTime && level === runLevel) text += `,${quoted}`;
    else {
      text += i === 0 ? `[[${time},${level},${quoted}` : `],[${time},${level},${quoted}`;
      runTime = time;
      runLevel = level;
    }
  }
  return `${text}]]`;
}

/** Makes `console.debug/log/info/warn/error` log lines (log → info, warn → warning). */
export function captureConsole(): void {
  consoleCaptured = true;
  const levels: Array<[keyof typeof console & ('debug' | 'log' | 'info' | 'warn' | 'error'), LogLevel]> = [
    ['debug', 'debug'],
    ['log', 'info'],
    ['info', 'info'],
    ['warn', 'warning'],
    ['error', 'error'],
  ];
  for (const [method, level] of levels) {
    // One string (the common call) is its own message; format() would return it after checks.
    console[method] = (...args: unknown[]) =>
      logLine(level, args.length === 1 && typeof args[0] === 'string' ? args[0] : format(...args));
  }
}

/** Sends what is buffered and resolves once every line is handed to the IPC channel (before exit). */
export function flushLogs(): Promise<void> {
  if (buffer.length === 0 && !sending) return Promise.resolve();
  return new Promise((resolve) => {
    drained.push(resolve);
    ship();
  });
}

function ship(): void {
  clearTimeout(timer);
  timer = undefined;
  if (sending) return;
  if (buffer.length === 0 || !process.send || !process.connected) {
    if (!process.connected) buffer = [];
    for (const resolve of drained.splice(0)) resolve();
    return;
  }
  const message: InstanceMessage = { type: 'logs', lines: buffer };
  buffer = [];
  sending = true;
  process.send(message, undefined, {}, () => {
    sending = false;
    // One batch in flight at a time: lines written meanwhile form the next one.
    if (buffer.length >= MAX_BATCH || drained.length > 0) ship();
    else if (buffer.length > 0) timer ??= setTimeout(ship, FLUSH_MS);
  });
}
