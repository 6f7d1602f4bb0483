/**
 * One entry of `handlers:` (SPEC S3, S4): its keys, the rules between them, and the
 * resolution of what the handler serves against the app directory.
 */
import { join } from 'node:path';
import { insideApp, pathKind, resolveScript } from './app-files.js';
import {
  checkStaticDirUrl,
  fullMatch,
  httpHeadersField,
  mimeTypeField,
  redirectCodeField,
  staticDirPattern,
  uploadField,
  urlField,
} from './handler-fields.js';
import { choice, expiration, FieldProblem, problem, text } from './schema-kit.js';
import { everywhere, isClean, mapping } from './schema-mapping.js';
import type { Handler } from './types.js';

const KINDS = ['script', 'static_dir', 'static_files'] as const;
const STATIC_ONLY = ['mime_type', 'expiration', 'http_headers'] as const;

const handlerFields = mapping(
  {
    url: urlField,
    script: text('name a module export (main.app), an existing file, or auto').optional(),
    static_dir: text('name a directory in the app, e.g. static').optional(),
    static_files: text('name the file to serve, e.g. static/\\1').optional(),
    upload: uploadField.optional(),
    mime_type: mimeTypeField.optional(),
    expiration: expiration('write e.g. expiration: "1d 6h"').optional(),
    http_headers: httpHeadersField.optional(),
    secure: choice(['optional', 'always', 'never']).optional(),
    redirect_http_response_code: redirectCodeField.optional(),
    login: choice(['optional', 'required', 'admin']).optional(),
    auth_fail_action: choice(['redirect', 'unauthorized']).optional(),
  },
  'a handler',
  'write each handler as a mapping with url and one of script, static_dir, static_files',
).superRefine(
  (h, ctx) => {
    const add = (path: PropertyKey[], message: string, fix: string) =>
      ctx.addIssue({ code: 'custom', path, message: problem(message, fix) });
    const kinds = KINDS.filter((k) => h[k] !== undefined);
    if (kinds.length === 0) {
      add(
        [],
        'needs one of script, static_dir or static_files',
        'add script: main.app, static_dir: <dir>, or static_files with upload',
      );
    }
    for (const extra of kinds.slice(1)) {
      add(
        [extra],
        `cannot be combined with ${kinds[0]}`,
        'split it into two handlers; each serves either a script or static files',
      );
    }
    if (h.static_files !== undefined && h.upload === undefined) {
      add(
        ['static_files'],
        'needs upload, the regular expression of the files it may serve',
        'add e.g. upload: static/.*',
      );
    }
    if (h.upload !== undefined && h.static_files === undefined) {
      add(['upload'], 'only applies together with static_files', 'add static_files, or remove upload');
    }
    if (h.static_dir === undefined && h.static_files === undefined) {
      for (const key of STATIC_ONLY) {
        if (h[key] === undefined) continue;
        add(
          [key],
          'applies only to static handlers (static_dir, static_files)',
          'remove it; a script sets its own response headers',
        );
      }
    }
  },
  { when: everywhere },
);

/** What the handler serves, resolved against the app directory. */
type Target =
  | { field: 'script'; script: Awaited<ReturnType<typeof resolveScript>> }
  | { field: 'static_dir'; dir: string }
  | { field: 'static_files'; files: string };

/** Resolves one of script/static_dir/static_files; throws a FieldProblem when it cannot. */
async function resolveTarget(appDir: string, field: (typeof KINDS)[number], value: string): Promise<Target> {
  if (field === 'script') return { field, script: await resolveScript(appDir, value) };
  if (field === 'static_files') return { field, files: insideApp(value, 'static_files') };
  const dir = insideApp(value, 'static_dir').replace(/\/+$/, '') || '.';
  if ((await pathKind(join(appDir, dir))) !== 'dir') {
    throw new FieldProblem(
      `directory '${value}' does not exist in the app directory`,
      'create the directory, or correct the path (relative to the folder holding app.yaml)',
    );
  }
  return { field, dir };
}

/**
 * A handler entry resolved against `appDir`: its kind, compiled pattern and defaults.
 * `expirationMs` is the handler's own; app.yaml's `default_expiration` is applied later.
 * The filesystem is checked for every clean target field, even when other fields of the
 * handler are broken, so one run reports a missing module next to a bad url.
 */
export function handlerSchema(appDir: string) {
  return handlerFields
    .superRefine(
      async (h, ctx) => {
        for (const field of KINDS) {
          const value = h[field];
          if (typeof value !== 'string' || !isClean(ctx, [field])) continue;
          try {
            await resolveTarget(appDir, field, value);
          } catch (err) {
            if (!(err instanceof FieldProblem)) throw err;
            ctx.addIssue({ code: 'custom', path: [field], message: problem(err.message, err.fix) });
          }
        }
        if (h.static_dir !== undefined && typeof h.url === 'string' && isClean(ctx, ['url'])) {
          try {
            checkStaticDirUrl(h.url);
          } catch (err) {
            if (!(err instanceof FieldProblem)) throw err;
            ctx.addIssue({ code: 'custom', path: ['url'], message: problem(err.message, err.fix) });
          }
        }
      },
      { when: everywhere },
    )
    .transform(async (h): Promise<Handler> => {
      const base = {
        url: h.url,
        pattern: fullMatch(h.url),
        secure: h.secure ?? 'optional',
        redirectHttpResponseCode: h.redirect_http_response_code ?? 302,
        login: h.login ?? 'optional',
        authFailAction: h.auth_fail_action ?? 'redirect',
      } as const;
      const staticBase = {
        ...(h.mime_type === undefined ? {} : { mimeType: h.mime_type }),
        ...(h.expiration === undefined ? {} : { expirationMs: h.expiration }),
        httpHeaders: h.http_headers ?? {},
      };
      // The rules above guarantee exactly one target field, and upload with static_files;
      // resolving again cannot fail unless the app dir changes under us, which then throws.
      const field = KINDS.find((k) => h[k] !== undefined) ?? 'script';
      const target = await resolveTarget(appDir, field, h[field] ?? '');
      switch (target.field) {
        case 'script': {
          const script = h.script ?? '';
          if (target.script.kind === 'entrypoint') return { ...base, kind: 'entrypoint', script: 'auto' };
          if (target.script.kind === 'cgi') return { ...base, kind: 'cgi', script };
          const { module, exportName } = target.script;
          return { ...base, kind: 'module', script, module, exportName };
        }
        case 'static_dir':
          return {
            ...base,
            ...staticBase,
            pattern: staticDirPattern(h.url),
            kind: 'static-dir',
            staticDir: target.dir,
          };
        case 'static_files':
          return {
            ...base,
            ...staticBase,
            kind: 'static-files',
            staticFiles: target.files,
            upload: fullMatch(h.upload ?? ''),
          };
      }
    });
}
