/**
 * App lines in the form the request log stores them: one JSON array per request,
 * `[[time, level index in LOG_LEVELS, message], ...]`, time as epoch ms (or, in rows written
 * before instances sent this form, as ISO 8601 text). Instances write a request's lines in
 * this form and the platform stores that text as it came (docs/decisions.md, "Lines as the
 * store's JSON"), after reading it once here: the text comes from an app's process, and one
 * malformed row would break every query that reads it.
 */
import { LOG_LEVELS } from '../shared/log-levels.js';
import { isoTime } from './record.js';
import type { LogLine, StoredLines } from './types.js';

export type PackedLine = [string | number, number, string];

/** The latest time a Date can hold: a later epoch ms cannot be written as ISO 8601. */
const MAX_TIME = 8.64e15;

/**
 * The lines of `json`, and their highest level, when it is the stored form with epoch ms times;
 * else undefined.
 *
 * @example
 * readPackedLines('[[1763712244646,1,"hello"]]')
 * // { lines: [{ time: '2025-11-21T08:04:04.646Z', level: 'info', message: 'hello' }], maxLevel: 1 }
 */
export function readPackedLines(json: string): { lines: LogLine[]; maxLevel: number } | undefined {
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
    if (!Array.isArray(item) || item.length !== 3) return undefined;
    const [time, level, message] = item as unknown[];
    if (typeof time !== 'number' || !Number.isInteger(time) || time < 0 || time > MAX_TIME) return undefined;
    const name = typeof level === 'number' ? LOG_LEVELS[level] : undefined;
    if (name === undefined || typeof message !== 'string') return undefined;
    lines.push({ time: isoTime(time), level: name, message });
    if ((level as number) > maxLevel) maxLevel = level as number;
  }
  return { lines, maxLevel };
}

/** `lines` in the stored form, and the highest level among them (-1 for none). */
export function packLines(lines: readonly LogLine[]): StoredLines {
  const rows: PackedLine[] = [];
  let maxLevel = -1;
  for (const l of lines) {
    const level = LOG_LEVELS.indexOf(l.level);
    if (level > maxLevel) maxLevel = level;
    rows.push([l.time, level, l.message]);
  }
  return { json: JSON.stringify(rows), maxLevel };
}

/** Stored lines back as LogLines. */
export function unpackLines(json: string): LogLine[] {
  return (JSON.parse(json) as PackedLine[]).map(([time, level, message]) => ({
    time: typeof time === 'string' ? time : new Date(time).toISOString(),
    level: LOG_LEVELS[level] ?? 'info',
    message,
  }));
}
