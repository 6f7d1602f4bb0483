/**
 * Building blocks for the app.yaml and platform config schemas. Every block reports its
 * problems as `problem(message, fix)`, so each error a user sees says how to fix it.
 * Mappings and rules across fields are in schema-mapping.ts.
 */
import { z } from 'zod';
import { parseDuration, parseExpiration, parseSize } from './durations.js';

// zod carries one string per issue; the fix travels inside it and toConfigIssues splits it off.
const FIX_SEPARATOR = '\u0000';

/** Encodes an issue message together with its fix. */
export function problem(message: string, fix: string): string {
  return `${message}${FIX_SEPARATOR}${fix}`;
}

/** Splits what `problem` joined; `fix` is undefined for zod's own messages. */
export function splitProblem(text: string): { message: string; fix?: string } {
  const at = text.indexOf(FIX_SEPARATOR);
  return at < 0 ? { message: text } : { message: text.slice(0, at), fix: text.slice(at + 1) };
}

/** Thrown inside `convert` callbacks to reject a value. */
export class FieldProblem extends Error {
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

/** How a value reads in a message: `'abc'`, `5`, `true`, `a list`, `a mapping`, `empty`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    if (value === '') return 'an empty string';
    return `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}'`;
  }
  return String(value);
}

/** An error function for zod: "is required" when missing, else "must be X, not Y". */
export function wrongType(expected: string, fix: string, requiredFix: string = fix) {
  return (issue: { input?: unknown }): string =>
    issue.input === undefined
      ? problem('is required', requiredFix)
      : problem(`must be ${expected}, not ${describeValue(issue.input)}`, fix);
}

/** Reports a problem from inside `convert`; `path` is relative to the value. */
export type Report = (message: string, fix: string, path?: PropertyKey[]) => void;

/**
 * A field checked and converted by plain code: `fn` returns the converted value, and
 * rejects by throwing a FieldProblem or by calling `report` (to name several problems).
 * `fn` also runs for a missing value (`undefined`), so it decides what "required" means;
 * wrap in `.optional()` for optional fields.
 */
export function convert<T>(fn: (value: unknown, report: Report) => T) {
  return z.unknown().transform((value, ctx) => {
    let reported = false;
    const report: Report = (message, fix, path = []) => {
      reported = true;
      ctx.addIssue({ code: 'custom', message: problem(message, fix), path, input: value });
    };
    try {
      const out = fn(value, report);
      return reported ? z.NEVER : out;
    } catch (err) {
      if (!(err instanceof FieldProblem)) throw err;
      report(err.message, err.fix);
      return z.NEVER;
    }
  });
}

/** A non-empty string. */
export function text(fix: string, requiredFix: string = fix) {
  return convert((value) => {
    if (typeof value !== 'string') throw typeProblem(value, 'a string', fix, requiredFix);
    if (value.trim() === '') throw new FieldProblem('must not be empty', fix);
    return value;
  });
}

/** One of a fixed set of strings. */
export function choice<const T extends readonly [string, ...string[]]>(
  values: T,
  fix?: string,
  requiredFix?: string,
) {
  const list = values.join(', ');
  const useOne = fix ?? `use one of: ${list}`;
  return z.enum(values, {
    error: (issue) =>
      issue.input === undefined
        ? problem('is required', requiredFix ?? useOne)
        : problem(`must be one of ${list}, not ${describeValue(issue.input)}`, useOne),
  });
}

/** `true` or `false` (YAML 1.2: `yes`/`no`/`on`/`off` are strings, not booleans). */
export function flag(fix: string) {
  return z.boolean({ error: wrongType('true or false', fix) });
}

/** A whole number in `[min, max]`. */
export function wholeNumber(min: number, max: number, fix: string, requiredFix: string = fix) {
  return convert((value) => checkWhole(value, min, max, fix, requiredFix));
}

/** Checks a whole number in `[min, max]`, for converters that accept other forms too. */
export function checkWhole(value: unknown, min: number, max: number, fix: string, requiredFix = fix): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
  if (typeof value !== 'number') throw typeProblem(value, `a whole number ${range}`, fix, requiredFix);
  if (!Number.isInteger(value)) throw new FieldProblem(`must be a whole number, not ${value}`, fix);
  if (value < min || value > max) throw new FieldProblem(`must be ${range}, not ${value}`, fix);
  return value;
}

/** A number (fractions allowed) in `[min, max]`. */
export function numberIn(min: number, max: number, fix: string) {
  return convert((value) => {
    if (typeof value !== 'number') throw typeProblem(value, `a number from ${min} to ${max}`, fix);
    if (value < min || value > max)
      throw new FieldProblem(`must be from ${min} to ${max}, not ${value}`, fix);
    return value;
  });
}

/** A duration (`1500ms`, `1.5s`, `10m`, a bare number is seconds), in milliseconds. */
export function duration(fix: string, options: { minMs?: number; maxMs?: number } = {}) {
  return convert((value) => checkDuration(value, fix, options));
}

/** Parses and range-checks a duration, for converters that accept other forms too. */
export function checkDuration(
  value: unknown,
  fix: string,
  { minMs = 0, maxMs = Number.MAX_SAFE_INTEGER }: { minMs?: number; maxMs?: number } = {},
): number {
  if (typeof value !== 'string' && typeof value !== 'number') throw typeProblem(value, 'a duration', fix);
  const ms = parseOrProblem(() => parseDuration(value), fix);
  if (ms < minMs) throw new FieldProblem(`must be at least ${minMs}ms, not ${describeValue(value)}`, fix);
  if (ms > maxMs)
    throw new FieldProblem(`must be at most ${maxMs / 1000}s, not ${describeValue(value)}`, fix);
  return ms;
}

/** App Engine's expiration syntax (`4d 5h`; a bare number is seconds), in milliseconds. */
export function expiration(fix: string) {
  return convert((value) => {
    if (typeof value !== 'string' && typeof value !== 'number')
      throw typeProblem(value, 'an expiration', fix);
    return parseOrProblem(() => parseExpiration(value), fix);
  });
}

/** A size (bytes, or `KiB`/`MiB`/`GiB`), in bytes. */
export function size(fix: string) {
  return convert((value) => {
    if (typeof value !== 'string' && typeof value !== 'number') throw typeProblem(value, 'a size', fix);
    return parseOrProblem(() => parseSize(value), fix);
  });
}

/**
 * A regular expression in JavaScript syntax, checked by compiling it with `compile`.
 * The source string is kept; callers compile it into the shape they need.
 */
export function regex(compile: (source: string) => RegExp, fix: string, requiredFix: string = fix) {
  return convert((value) => {
    if (typeof value !== 'string') throw typeProblem(value, 'a regular expression', fix, requiredFix);
    if (value === '') throw new FieldProblem('must not be empty', fix);
    checkRegex(value, compile);
    return value;
  });
}

/** Compiles `source`; throws a FieldProblem quoting the engine's complaint. */
export function checkRegex(source: string, compile: (source: string) => RegExp): RegExp {
  try {
    return compile(source);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    // V8 repeats the whole wrapped pattern before the reason; the reason is what helps.
    const reason = detail.includes('/: ') ? detail.slice(detail.lastIndexOf('/: ') + 3) : detail;
    const python = /\(\?P[<=]/.test(source);
    throw new FieldProblem(
      `'${source}' is not a valid regular expression: ${reason}`,
      python
        ? 'write named groups as (?<name>...) and backreferences as \\k<name>; patterns use JavaScript syntax'
        : 'fix the pattern (JavaScript RegExp syntax); escape literal characters such as ( ) [ ] + ? with a backslash',
    );
  }
}

function typeProblem(value: unknown, expected: string, fix: string, requiredFix: string = fix): FieldProblem {
  return value === undefined
    ? new FieldProblem('is required', requiredFix)
    : new FieldProblem(`must be ${expected}, not ${describeValue(value)}`, fix);
}

function parseOrProblem(parse: () => number, fix: string): number {
  try {
    return parse();
  } catch (err) {
    throw new FieldProblem(err instanceof Error ? err.message : String(err), fix);
  }
}
