/**
 * App lines in the form the request log stores them: one JSON array per request of runs,
 * `[[time, level index in LOG_LEVELS, message, message, ...], ...]`, each run holding the
 * consecutive lines written in the same millisecond at the same level (a request's lines
 * mostly are: ten lines cost one time and one level instead of ten, a fifth of their bytes).
 * A run of one message is the form rows had before runs (docs/decisions.md, "Line runs"), so
 * those read as they are. Time is epoch ms (or, in rows written before instances sent this
 * form, ISO 8601 text). Instances write a request's lines in this form and the platform stores
 * that text as it came (docs/decisions.md, "Lines as the store's JSON"), after reading it once
 * here: the text comes from an app's process, and one malformed row would break every query
 * that reads it.
 */
import { LOG_LEVELS } from '../shared/log-levels.js';
import { isoTime } from './record.js';
import type { LogLine, StoredLines } from './types.js';

/** One run: time, level index, then one message or more. */
export type PackedLine = [string | number, number, string, ...string[]];

/** The latest time a Date can hold: a later epoch ms cannot be written as ISO 8601. */
const MAX_TIME = 8.64e15;

/**
 * The lines of `json`, and their highest level, when it is the stored form with epoch ms times;
 * else undefined.
 *
 * @example
 * readPackedLines('[[1763712244646,1,"hello","world"]]')
 * // { lines: [{ time: '2025-11-21T08:04:04.646Z', level: 'info', message: 'hello' },
 * //           { time: '2025-11-21T08:04:04.646Z', level: 'info', message: 'world' }], maxLevel: 1 }
 */
export function readPackedLines(json: string): ReadLines | undefined {
  // Nearly every request's lines are plain text, which needs no unescaping: read with indexOf
  // at a third of JSON.parse's cost (docs/decisions.md). Anything else goes to JSON.parse.
  if (json.indexOf('\\') === -1 && !controlCharacter.test(json)) {
    const read = scanPlain(json);
    if (read) return read;
  }
  return readPackedLinesByParse(json);
}

/**
 * Only the highest level of packed lines (what the store keeps beside their text), checked like
 * readPackedLines but without making a line object: for entries whose lines nobody reads as
 * objects (no terminal, no live tail). Undefined when the text is not valid packed lines.
 *
 * @example
 * packedMaxLevel('[[1763712244646,1,"hello"],[1763712244647,3,"oops"]]') // 3
 */
export function packedMaxLevel(json: string): number | undefined {
  if (json.indexOf('\\') === -1 && !controlCharacter.test(json)) {
    const read = scanPlain(json, false);
    if (read) return read.maxLevel;
  }
  return readPackedLinesByParse(json)?.maxLevel;
}

interface ReadLines {
  lines: LogLine[];
  maxLevel: number;
}

/** JSON allows none unescaped in a string. */
const controlCharacter = /[\u0000-\u001f]/;

enum Char {
  Zero = 0x30,
  Comma = 0x2c,
  Quote = 0x22,
  Open = 0x5b,
  Close = 0x5d,
}

/**
 * Reads `[[time,level,"message","message",...],...]` written exactly as instances write it (no
 * spaces; no backslash or control character anywhere, checked by the caller, so a message is
 * the text between its quotes); undefined for anything else, which JSON.parse then decides on.
 */
function scanPlain(json: string, build = true): ReadLines | undefined {
  const end = json.length - 1;
  if (end < 1 || json.charCodeAt(0) !== Char.Open || json.charCodeAt(end) !== Char.Close) return undefined;
  const lines: LogLine[] = [];
  let maxLevel = -1;
  if (end === 1) return { lines, maxLevel };
  let at = 1;
  for (;;) {
    if (json.charCodeAt(at) !== Char.Open) return undefined;
    const comma = json.indexOf(',', at + 1);
    const digits = comma - at - 1;
    // 1 to 16 digits, no leading zero: an integer JSON allows, up to MAX_TIME.
    if (digits < 1 || digits > 16 || (digits > 1 && json.charCodeAt(at + 1) === Char.Zero)) return undefined;
    let time = 0;
    for (let i = at + 1; i < comma; i++) {
      const digit = json.charCodeAt(i) - Char.Zero;
      if (digit < 0 || digit > 9) return undefined;
      time = time * 10 + digit;
    }
    if (time > MAX_TIME) return undefined;
    const level = json.charCodeAt(comma + 1) - Char.Zero;
    if (!(level >= 0 && level < LOG_LEVELS.length)) return undefined;
    if (json.charCodeAt(comma + 2) !== Char.Comma) return undefined;
    // The run's messages: `"...",` until `"...]`.
    const iso = build ? isoTime(time) : '';
    const name = LOG_LEVELS[level]!;
    at = comma + 3;
    for (;;) {
      if (json.charCodeAt(at) !== Char.Quote) return undefined;
      const close = json.indexOf('"', at + 1);
      if (close === -1) return undefined;
      if (build) lines.push({ time: iso, level: name, message: json.slice(at + 1, close) });
      const next = json.charCodeAt(close + 1);
      at = close + 2;
      if (next === Char.Close) break;
      if (next !== Char.Comma) return undefined;
    }
    if (level > maxLevel) maxLevel = level;
    if (at === end) return { lines, maxLevel };
    if (json.charCodeAt(at) !== Char.Comma) return undefined;
    at++;
  }
}

/**
 * What readPackedLines answers, by JSON.parse and a check of each line's shape: its fallback,
 * and the reference its faster reader is tested against.
 */
export function readPackedLinesByParse(json: string): ReadLines | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const lines: LogLine[] = [];
  let maxLevel = -1;
  for (const item of parsed as unknown[]) {
    if (!Array.isArray(item) || item.length < 3) return undefined;
    const [time, level] = item as unknown[];
    if (typeof time !== 'number' || !Number.isInteger(time) || time < 0 || time > MAX_TIME) return undefined;
    const name = typeof level === 'number' ? LOG_LEVELS[level] : undefined;
    if (name === undefined) return undefined;
    const iso = isoTime(time);
    for (let i = 2; i < item.length; i++) {
      const message: unknown = item[i];
      if (typeof message !== 'string') return undefined;
      lines.push({ time: iso, level: name, message });
    }
    if ((level as number) > maxLevel) maxLevel = level as number;
  }
  return { lines, maxLevel };
}

/** `lines` in the stored form (consecutive lines of one time and level as one run), and the highest level among them (-1 for none). */
export function packLines(lines: readonly LogLine[]): StoredLines {
  const runs: PackedLine[] = [];
  let maxLevel = -1;
  let run: PackedLine | undefined;
  for (const l of lines) {
    const level = LOG_LEVELS.indexOf(l.level);
    if (level > maxLevel) maxLevel = level;
    if (run && run[0] === l.time && run[1] === level) run.push(l.message);
    else {
      run = [l.time, level, l.message];
      runs.push(run);
    }
  }
  return { json: JSON.stringify(runs), maxLevel };
}

/** Stored lines back as LogLines (runs of any length, times as epoch ms or ISO text). */
export function unpackLines(json: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const run of JSON.parse(json) as PackedLine[]) {
    const [time, level] = run;
    const iso = typeof time === 'string' ? time : new Date(time).toISOString();
    const name = LOG_LEVELS[level] ?? 'info';
    for (let i = 2; i < run.length; i++) lines.push({ time: iso, level: name, message: run[i] as string });
  }
  return lines;
}
