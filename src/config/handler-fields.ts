/**
 * The single-value fields of a handler entry (SPEC S3): url, upload, http_headers, mime_type,
 * redirect_http_response_code, and the pattern shapes urls compile to.
 */
import { z } from 'zod';
import { type PatternInput, patternProblem } from './safe-pattern.js';
import { checkRegex, convert, describeValue, FieldProblem, problem, regex, wrongType } from './schema-kit.js';

/** Where the pattern as written starts in the sources below (after `^(?:`). */
const WRAPPED_AT = 4;

/** `url:` and `upload:` are implicitly anchored full matches. */
export function fullMatch(source: string): RegExp {
  return new RegExp(fullMatchSource(source));
}

function fullMatchSource(source: string): string {
  return `^(?:${source})$`;
}

/**
 * `static_dir` serves `url/<path>`. The path inside the directory is the named group `path`;
 * it is also group 1 unless `url` has capture groups of its own.
 */
export function staticDirPattern(url: string): RegExp {
  return new RegExp(staticDirSource(url));
}

function staticDirSource(url: string): string {
  return `^(?:${trimSlashes(url)})/(?<path>.*)$`;
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Refuses a pattern a request could make slow (safe-pattern.ts): the front end matches it on
 * its one event loop, so a path that takes seconds would stall every app.
 */
function checkLinear(text: string, source: string, input: PatternInput, added?: string): void {
  const found = patternProblem({ text, source, offset: WRAPPED_AT, input, ...(added ? { added } : {}) });
  if (found) throw new FieldProblem(found.message, found.fix);
}

/** The `url` of a `static_dir` handler, with the `/<path>` it serves appended; throws a FieldProblem. */
export function checkStaticDirUrl(url: string): void {
  checkRegex(url, staticDirPattern);
  checkLinear(trimSlashes(url), staticDirSource(url), 'path', "the '/(?<path>.*)' that static_dir appends");
}

/** `url:` — a request path regex, implicitly anchored, without a leading `^`. */
export const urlField = convert((value) => {
  if (typeof value !== 'string') {
    throw new FieldProblem(
      value === undefined ? 'is required' : `must be a URL pattern, not ${describeValue(value)}`,
      'add url: /path (a regular expression matched against the whole request path)',
    );
  }
  if (value.startsWith('^')) {
    throw new FieldProblem("must not start with '^'", "remove the leading '^'; urls are implicitly anchored");
  }
  // Request paths start with '/', so any other start (except a group or '.*') never matches.
  if (!/^[/.(]/.test(value)) {
    throw new FieldProblem(
      `'${value}' can never match a request path, which always starts with '/'`,
      `write it as /${value}, or as a pattern such as .* or (/a|/b)`,
    );
  }
  checkRegex(value, fullMatch);
  checkLinear(value, fullMatchSource(value), 'path');
  return value;
});

/**
 * `upload:` — the files `static_files` may serve, a full match of the filled-in file path.
 * That path holds percent-decoded request text, so any character can occur in it.
 */
export const uploadField = regex(
  fullMatch,
  'write a regular expression of the files static_files may serve',
).transform((upload, ctx) => {
  try {
    checkLinear(upload, fullMatchSource(upload), 'any');
  } catch (err) {
    if (!(err instanceof FieldProblem)) throw err;
    ctx.addIssue({ code: 'custom', message: problem(err.message, err.fix), input: upload });
    return z.NEVER;
  }
  return upload;
});

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const headerValue = convert((value) => {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') {
    throw new FieldProblem(
      `must be a header value, not ${describeValue(value)}`,
      'write the value as a string',
    );
  }
  if (/[\r\n]/.test(value))
    throw new FieldProblem('must not contain line breaks', 'put the value on one line');
  return value;
});

/** `http_headers:` — header names are tokens; numbers become strings. */
export const httpHeadersField = z
  .record(z.string(), headerValue, {
    error: wrongType('a mapping of header names to values', 'write http_headers as Name: value lines'),
  })
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (HEADER_NAME.test(name)) continue;
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: problem(
          `'${name}' is not a valid header name`,
          'use letters, digits and hyphens, e.g. X-Frame-Options',
        ),
      });
    }
  });

const MIME_TYPE = /^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/;

/** `type/subtype`, parameters allowed. */
export const mimeTypeField = convert((value) => {
  if (typeof value !== 'string' || !MIME_TYPE.test(value.trim())) {
    throw new FieldProblem(
      `must be a MIME type, not ${describeValue(value)}`,
      'write type/subtype, e.g. text/html or application/json',
    );
  }
  return value.trim();
});

const REDIRECT_CODES = [301, 302, 303, 307] as const;

/** `redirect_http_response_code:` — 301, 302, 303 or 307. */
export const redirectCodeField = convert((value) => {
  const code = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  const known = REDIRECT_CODES.find((c) => c === code);
  if (known === undefined) {
    throw new FieldProblem(
      `must be 301, 302, 303 or 307, not ${describeValue(value)}`,
      'use one of: 301, 302, 303, 307',
    );
  }
  return known;
});
