import { type FetchHandler, type HandlerContext, type NodeHandler, nodeHandlerSymbol } from '../index.js';
import { HangarError } from '../shared/errors.js';
import { sourceNames } from '../shared/precompiled.js';
import { appModuleUrl } from './app-modules.js';
import type { EntrypointServer } from './entrypoint.js';

/** A loaded module handler, in the one shape the instance server calls. */
export type LoadedHandler =
  | { kind: 'fetch'; call: (request: Request, ctx: HandlerContext) => Response | Promise<Response> }
  | { kind: 'node'; call: NodeHandler }
  /** `script: auto`: the app's own server (entrypoint.ts), reached over HTTP on its PORT. */
  | { kind: 'entrypoint'; server: EntrypointServer }
  /** A CGI script (S4.2), relative to the app dir, run once per request (cgi/cgi-request.ts). */
  | { kind: 'cgi'; script: string };

/**
 * Imports `module` (relative to the app dir) once and returns its `exportName` export as a
 * handler. Failures name the module, the export and what the module does export, so the fix
 * is obvious from the message alone.
 */
export async function loadModuleHandler(
  appDir: string,
  module: string,
  exportName: string,
): Promise<LoadedHandler> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(appModuleUrl(appDir, module))) as Record<string, unknown>;
  } catch (err) {
    // Compiled files (a deployed version's, app-modules.ts) are named by their sources.
    let detail = sourceNames(err instanceof Error ? (err.stack ?? err.message) : String(err));
    // Node 20 does not say which imported file does not parse: find it (syntax-locator.ts).
    if (err instanceof SyntaxError && !detail.includes(`${appDir}/`)) {
      const place = await (await import('./syntax-locator.js')).locateSyntaxError(appDir);
      if (place) detail = `${place}\n${detail}`;
    }
    // The first line says what to do (or at least what broke): it is the one a log line shows.
    // An error whose stack is its message (a compile error, compile-error.ts) is said once;
    // Node's own syntax errors put the file, line and a caret in front of it: kept.
    const onlyMessage = err instanceof Error && detail === sourceNames(`${err.name}: ${err.message}`);
    throw new HangarError(
      'MODULE_LOAD_FAILED',
      onlyMessage
        ? `module ${module} failed to load: ${sourceNames(err.message)}`
        : `module ${module} failed to load: ${sourceNames(loadFailureSummary(err, module))}\n${detail}`,
      {
        cause: err,
      },
    );
  }
  // CommonJS modules arrive as { default: module.exports, ...named exports Node could detect }.
  const commonjs = namespace.default;
  const value =
    namespace[exportName] ??
    (typeof commonjs === 'object' && commonjs !== null
      ? (commonjs as Record<string, unknown>)[exportName]
      : undefined);
  if (value === undefined) {
    const exported = Object.keys(namespace).filter((k) => k !== 'module.exports');
    throw new HangarError(
      'MODULE_EXPORT_MISSING',
      `module ${module} has no export '${exportName}'; it exports: ${exported.length ? exported.join(', ') : '(nothing)'}. ` +
        `Export your handler as \`export const ${exportName} = ...\`, or point script: at the export you have ` +
        `(e.g. ${module.replace(/\.[^.]+$/, '')}.${exported.find((k) => k !== 'default') ?? 'app'}).`,
    );
  }
  return asHandler(value, module, exportName);
}

function asHandler(value: unknown, module: string, exportName: string): LoadedHandler {
  if (typeof value === 'object' && value !== null) {
    const node = (value as { [nodeHandlerSymbol]?: unknown })[nodeHandlerSymbol];
    if (typeof node === 'function') return { kind: 'node', call: node as NodeHandler };
    const fetch = (value as { fetch?: unknown }).fetch;
    if (typeof fetch === 'function') {
      return { kind: 'fetch', call: (request, ctx) => fetch.call(value, request, ctx.env, ctx) };
    }
  }
  if (typeof value === 'function') {
    // Express apps are functions too, but take (req, res): they need the fromNode glue.
    if ('handle' in value && 'use' in value) {
      throw new HangarError(
        'MODULE_EXPORT_MISSING',
        `module ${module} exports '${exportName}' as a Node (req, res) app; wrap it once: ` +
          `\`import { fromNode } from 'hangar'; export const ${exportName} = fromNode(server);\``,
      );
    }
    return { kind: 'fetch', call: value as FetchHandler };
  }
  throw new HangarError(
    'MODULE_EXPORT_MISSING',
    `module ${module} export '${exportName}' is ${value === null ? 'null' : typeof value}, not a handler. ` +
      'Export a function (request, ctx) => Response, an object with a fetch method (e.g. a Hono app), ' +
      "or a Node (req, res) app wrapped with fromNode from 'hangar'.",
  );
}

/**
 * One line for a module that failed to load: a fix for the failures a new app meets first,
 * else the error's own first line.
 *
 * @example
 * loadFailureSummary(new SyntaxError('Cannot use import statement outside a module'), 'server.js')
 * // 'server.js is loaded as CommonJS ... set "type": "module" in package.json, or rename it to .mjs'
 */
export function loadFailureSummary(err: unknown, module: string): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/Cannot use import statement outside a module|Unexpected token 'export'/.test(message)) {
    return `${module} uses import/export but is loaded as CommonJS (package.json has "type": "commonjs", as npm init -y writes, or no "type"); set "type": "module" in package.json, or rename the file to .mjs`;
  }
  const missing = /Cannot find package '([^']+)'/.exec(message);
  if ((err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && missing) {
    return `the package '${missing[1]}' is not installed; run npm install (it must be in package.json's dependencies for a deploy)`;
  }
  return message.split('\n')[0] ?? message;
}
