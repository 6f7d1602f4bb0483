/**
 * The app.yaml schema (SPEC S3): every top-level key, the rules between keys, and the
 * normalisation into AppConfig (defaults filled, durations in ms, patterns compiled).
 */
import { z } from 'zod';
import {
  compileSkipPattern,
  DEFAULT_SKIP_FILES,
  envVariablesSchema,
  errorHandlersSchema,
  inboundServicesSchema,
  librariesSchema,
  skipFilesSchema,
} from './app-fields.js';
import { applicationSchema, nameSchema } from './app-names.js';
import { fullMatch } from './handler-fields.js';
import { handlerSchema } from './handler-schema.js';
import {
  automaticScalingSchema,
  basicScalingSchema,
  defaultAutomaticScaling,
  manualScalingSchema,
} from './scaling-schema.js';
import { choice, expiration, flag, problem, text, wrongType } from './schema-kit.js';
import { everywhere, isClean, mapping } from './schema-mapping.js';
import type { AppConfig, Handler, InstanceClass, NodeRuntimeName } from './types.js';

/**
 * Runtimes Hangar runs (S3): the Node major of the version's instances, whatever Node runs the
 * platform (src/versions/node-runtimes.ts); `nodejs` is the newest at hand. The even (LTS) majors
 * only, as App Engine offers them.
 */
export const RUNTIMES = [
  'nodejs',
  'nodejs18',
  'nodejs20',
  'nodejs22',
  'nodejs24',
  'nodejs26',
] as const satisfies readonly NodeRuntimeName[];

const INSTANCE_CLASSES = ['F1', 'F2', 'F4', 'F4_1G', 'B1', 'B2', 'B4', 'B4_1G', 'B8'] as const;

/** App Engine's limit on `handlers:` entries. */
export const MAX_HANDLERS = 100;

const SCALING_KEYS = ['automatic_scaling', 'basic_scaling', 'manual_scaling'] as const;

function handlersSchema(appDir: string) {
  return z
    .array(handlerSchema(appDir), {
      error: wrongType(
        'a list of handlers',
        'write handlers as a list of - url: ... entries',
        'add handlers: with at least one entry, e.g. - url: /.* and script: main.app',
      ),
    })
    .min(1, { error: problem('must have at least one handler', 'add e.g. - url: /.* with script: main.app') })
    .superRefine((handlers, ctx) => {
      if (handlers.length <= MAX_HANDLERS) return;
      ctx.addIssue({
        code: 'custom',
        message: problem(
          `has ${handlers.length} handlers; at most ${MAX_HANDLERS} are allowed`,
          'merge handlers with one url pattern, e.g. (/a|/b)/.*, or route inside your app',
        ),
      });
    });
}

/**
 * The schema for one app.yaml in `appDir`. Parse it with `safeParseAsync`: handler scripts
 * and error pages are checked against the filesystem.
 */
export function appYamlSchema(file: string, appDir: string) {
  return mapping(
    {
      application: applicationSchema.optional(),
      service: nameSchema('service').optional(),
      module: nameSchema('service').optional(),
      version: nameSchema('version').optional(),
      runtime: choice(RUNTIMES, undefined, 'add runtime: nodejs22 at the top level'),
      threadsafe: flag('write threadsafe: true or threadsafe: false').optional(),
      entrypoint: text('write the command that starts your server on $PORT, e.g. node server.js').optional(),
      instance_class: choice(INSTANCE_CLASSES).optional(),
      automatic_scaling: automaticScalingSchema.optional(),
      basic_scaling: basicScalingSchema.optional(),
      manual_scaling: manualScalingSchema.optional(),
      env_variables: envVariablesSchema.optional(),
      // None: every request goes to the app's own server, as App Engine's Node runtime does (S3).
      handlers: handlersSchema(appDir).optional(),
      error_handlers: errorHandlersSchema(appDir).optional(),
      default_expiration: expiration('write e.g. default_expiration: "1d 6h"').optional(),
      skip_files: skipFilesSchema.optional(),
      inbound_services: inboundServicesSchema.optional(),
      libraries: librariesSchema.optional(),
    },
    'app.yaml',
    'write app.yaml as a mapping with at least runtime, e.g. runtime: nodejs22',
  )
    .superRefine(
      (app, ctx) => {
        const add = (path: PropertyKey[], message: string, fix: string) =>
          ctx.addIssue({ code: 'custom', path, message: problem(message, fix) });

        if (app.service !== undefined && app.module !== undefined) {
          add(
            ['module'],
            'cannot be set together with service (module is the old name of service)',
            'remove module and keep service',
          );
        }

        const scalings = SCALING_KEYS.filter((key) => app[key] !== undefined);
        for (const extra of scalings.slice(1)) {
          add(
            [extra],
            `cannot be combined with ${scalings[0]}; a version has one scaling mode`,
            `keep one of ${scalings.join(', ')} and delete the others`,
          );
        }

        const instanceClass = app.instance_class;
        if (instanceClass !== undefined && isClean(ctx, ['instance_class']) && scalings.length <= 1) {
          const mismatch = instanceClassMismatch(instanceClass, scalings[0]);
          if (mismatch) add(['instance_class'], mismatch.message, mismatch.fix);
        }

        const handlers = Array.isArray(app.handlers) ? app.handlers : [];
        const cleanHandlers = handlers.flatMap((h: Handler, i) =>
          isClean(ctx, ['handlers', i]) ? [[h, i] as const] : [],
        );

        if (app.threadsafe === true && isClean(ctx, ['threadsafe'])) {
          for (const [h, i] of cleanHandlers) {
            if (h.kind !== 'cgi') continue;
            add(
              ['threadsafe'],
              `threadsafe cannot be enabled with CGI handler: ${h.script}`,
              `set threadsafe: false, or make handlers[${i}] a module handler (script: path/main.app)`,
            );
          }
        }
      },
      { when: everywhere },
    )
    .transform((app): AppConfig => {
      const scaling =
        app.automatic_scaling ?? app.basic_scaling ?? app.manual_scaling ?? defaultAutomaticScaling();
      const defaultExpirationMs = app.default_expiration;
      const handlers = (app.handlers ?? [everyRequestToTheApp()]).map((h): Handler => {
        const isStatic = h.kind === 'static-dir' || h.kind === 'static-files';
        return isStatic && h.expirationMs === undefined && defaultExpirationMs !== undefined
          ? { ...h, expirationMs: defaultExpirationMs }
          : h;
      });
      const config: AppConfig = {
        file,
        dir: appDir,
        service: app.service ?? app.module ?? 'default',
        runtime: app.runtime,
        // S3: threadsafe unless a CGI handler exists (CGI scripts run one request at a time).
        threadsafe: app.threadsafe ?? !handlers.some((h) => h.kind === 'cgi'),
        instanceClass: app.instance_class ?? (scaling.kind === 'automatic' ? 'F1' : 'B2'),
        scaling,
        envVariables: app.env_variables ?? {},
        handlers,
        errorHandlers: app.error_handlers ?? [],
        skipFiles: app.skip_files ?? DEFAULT_SKIP_FILES.map(compileSkipPattern),
        inboundServices: app.inbound_services ?? [],
        libraries: app.libraries ?? [],
      };
      if (app.application !== undefined) config.application = app.application;
      if (app.version !== undefined) config.version = app.version;
      if (app.entrypoint !== undefined) config.entrypoint = app.entrypoint;
      if (defaultExpirationMs !== undefined) config.defaultExpirationMs = defaultExpirationMs;
      return config;
    });
}

/**
 * The handler of an app.yaml without `handlers:`: every request to the app's own server (S3,
 * S4.3), as `- url: /.*` with `script: auto` would say.
 */
function everyRequestToTheApp(): Handler {
  return {
    kind: 'entrypoint',
    script: 'auto',
    url: '/.*',
    pattern: fullMatch('/.*'),
    secure: 'optional',
    redirectHttpResponseCode: 302,
    login: 'optional',
    authFailAction: 'redirect',
  };
}

/** App Engine pairs F classes with automatic scaling and B classes with basic/manual. */
function instanceClassMismatch(
  instanceClass: InstanceClass,
  mode: (typeof SCALING_KEYS)[number] | undefined,
): { message: string; fix: string } | undefined {
  const frontend = instanceClass.startsWith('F');
  if (mode === undefined || mode === 'automatic_scaling') {
    if (frontend) return undefined;
    return {
      message: `${instanceClass} is a basic/manual scaling class, but this version uses automatic scaling${mode ? '' : ' (the default)'}`,
      fix: 'use one of F1, F2, F4, F4_1G, or add basic_scaling or manual_scaling',
    };
  }
  if (!frontend) return undefined;
  return {
    message: `${instanceClass} is an automatic scaling class, but this version uses ${mode}`,
    fix: 'use one of B1, B2, B4, B4_1G, B8 (default B2)',
  };
}
