/**
 * The top-level app.yaml fields other than names, handlers and scaling (SPEC S3):
 * env_variables, skip_files, error_handlers, libraries, inbound_services.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { insideApp } from './app-files.js';
import { mimeTypeField } from './handler-fields.js';
import {
  checkRegex,
  choice,
  convert,
  describeValue,
  FieldProblem,
  problem,
  text,
  wrongType,
} from './schema-kit.js';
import { everywhere, isClean, mapping } from './schema-mapping.js';
import type { ErrorHandler } from './types.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Scalars become the string a Node app would expect: `3` → `'3'`, `true` → `'true'` (App Engine's
 * Python runtime gave `'True'`; see docs/configuration.md).
 */
const envValue = convert((value) => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value === null) throw new FieldProblem('has no value', "write NAME: '' for an empty value");
  throw new FieldProblem(
    `must be a single value, not ${describeValue(value)}`,
    'write the value as one string, e.g. join list items with commas',
  );
});

/** `env_variables:` — names `[A-Za-z_][A-Za-z0-9_]*`, scalar values as strings. */
export const envVariablesSchema = z
  .record(z.string(), envValue, {
    error: wrongType('a mapping of NAME: value', 'write env_variables as NAME: value lines'),
  })
  .superRefine((env, ctx) => {
    for (const name of Object.keys(env)) {
      if (ENV_NAME.test(name)) continue;
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: problem(
          `'${name}' is not a valid environment variable name`,
          'use letters, digits and underscores, not starting with a digit, e.g. API_URL',
        ),
      });
    }
  });

/** App Engine's default skip_files, used when app.yaml has none. */
export const DEFAULT_SKIP_FILES: readonly string[] = [
  '^(.*/)?#.*#$',
  '^(.*/)?.*~$',
  '^(.*/)?.*\\.py[co]$',
  '^(.*/)?.*/RCS/.*$',
  '^(.*/)?\\..*$',
];

/** skip_files patterns match from the start of the relative path, like Python's re.match. */
export function compileSkipPattern(source: string): RegExp {
  return new RegExp(`^(?:${source})`);
}

/** `skip_files:` — one regex or a list; every bad pattern is named. */
export const skipFilesSchema = convert((value, report) => {
  const sources = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(sources)) {
    throw new FieldProblem(
      `must be a regular expression or a list of them, not ${describeValue(value)}`,
      'write skip_files as a list, e.g. - ^(.*/)?node_modules/.*$',
    );
  }
  const patterns: RegExp[] = [];
  for (const [i, source] of sources.entries()) {
    const path = typeof value === 'string' ? [] : [i];
    if (typeof source !== 'string') {
      report(`must be a regular expression, not ${describeValue(source)}`, 'quote the pattern', path);
      continue;
    }
    try {
      patterns.push(checkRegex(source, compileSkipPattern));
    } catch (err) {
      if (!(err instanceof FieldProblem)) throw err;
      report(err.message, err.fix, path);
    }
  }
  return patterns;
});

/** "< 10 KB" in S3: an error page must be smaller than 10 KiB. */
export const ERROR_PAGE_MAX_BYTES = 10 * 1024;

/** `error_handlers:` — each file inside the app, existing, under 10 KiB; codes unique. */
export function errorHandlersSchema(appDir: string) {
  const entry = mapping(
    {
      error_code: choice(['default', 'over_quota', 'timeout']).optional(),
      file: text('name a file in the app, e.g. errors/quota.html', 'add file: <path of the page to serve>'),
      mime_type: mimeTypeField.optional(),
    },
    'an error handler',
    'write each error handler as a mapping with file and optionally error_code and mime_type',
  ).transform(async (e, ctx): Promise<ErrorHandler> => {
    const fail = (message: string, fix: string) => {
      ctx.addIssue({ code: 'custom', path: ['file'], message: problem(message, fix) });
      return z.NEVER;
    };
    let file: string;
    try {
      file = insideApp(e.file, 'file');
    } catch (err) {
      if (!(err instanceof FieldProblem)) throw err;
      return fail(err.message, err.fix);
    }
    const info = await stat(join(appDir, file)).catch(() => undefined);
    if (!info?.isFile()) {
      return fail(`file '${e.file}' does not exist in the app directory`, 'create it, or correct the path');
    }
    if (info.size >= ERROR_PAGE_MAX_BYTES) {
      return fail(
        `file '${e.file}' is ${info.size} bytes; error pages must be smaller than 10 KiB (${ERROR_PAGE_MAX_BYTES} bytes)`,
        'shrink the page, e.g. move images and styles to static files it links to',
      );
    }
    return {
      errorCode: e.error_code ?? 'default',
      file,
      ...(e.mime_type === undefined ? {} : { mimeType: e.mime_type }),
    };
  });

  return z
    .array(entry, {
      error: wrongType('a list of error handlers', 'write error_handlers as a list of - file: ... entries'),
    })
    .superRefine(
      (entries, ctx) => {
        const seen = new Set<string>();
        for (const [i, e] of entries.entries()) {
          if (!isClean(ctx, [i])) continue;
          if (seen.has(e.errorCode)) {
            ctx.addIssue({
              code: 'custom',
              path: [i, 'error_code'],
              message: problem(
                `error_code ${e.errorCode} is already handled above`,
                'keep one entry per error_code',
              ),
            });
          }
          seen.add(e.errorCode);
        }
      },
      { when: everywhere },
    );
}

/** `inbound_services:` — only `warmup` exists here. */
export const inboundServicesSchema = z.array(
  choice(['warmup'], 'remove it; Hangar supports only the warmup inbound service'),
  { error: wrongType('a list', 'write inbound_services as a list, e.g. - warmup') },
);

const libraryVersion = convert((value) => {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (typeof value === 'number') return String(value);
  throw new FieldProblem(
    value === undefined ? 'is required' : `must be a version, not ${describeValue(value)}`,
    'add version: latest (or a quoted version such as "2.6")',
  );
});

/** `libraries:` — accepted for compatibility (they are Python libraries); names unique. */
export const librariesSchema = z
  .array(
    mapping(
      { name: text('name the library, e.g. ssl', 'add name: <library>'), version: libraryVersion },
      'a library',
      'write each library as - name: ... version: ...',
    ),
    { error: wrongType('a list', 'write libraries as a list of - name: ... version: ... entries') },
  )
  .superRefine(
    (libraries, ctx) => {
      const seen = new Set<string>();
      for (const [i, library] of libraries.entries()) {
        if (!isClean(ctx, [i, 'name'])) continue;
        if (seen.has(library.name)) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'name'],
            message: problem(`library '${library.name}' is listed twice`, 'keep one entry per library'),
          });
        }
        seen.add(library.name);
      }
    },
    { when: everywhere },
  );
