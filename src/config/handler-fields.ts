/**
 * The single-value fields of a handler entry (SPEC S3): url, http_headers, mime_type,
 * redirect_http_response_code, and the pattern shapes urls compile to.
 */
import { z } from 'zod';
import { checkRegex, convert, describeValue, FieldProblem, problem, wrongType } from './schema-kit.js';

/** `url:` and `upload:` are implicitly anchored full matches. */
export function fullMatch(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

/**
 * `static_dir` serves `url/<path>`. The path inside the directory is the named group `path`;
 * it is also group 1 unless `url` has capture groups of its own.
 */
export function staticDirPattern(url: string): RegExp {
  return new RegExp(`^(?:${url.replace(/\/+$/, '')})/(?<path>.*)$`);
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
  return value;
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
