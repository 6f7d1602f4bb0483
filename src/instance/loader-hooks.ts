/**
 * Module customisation hooks for instance processes (registered with `module.register`; they
 * run on Node's loader thread).
 *
 * - `hangar` and `hangar/*` resolve to the platform's own modules, so apps import them without
 *   listing them as dependencies (as `google.appengine.*` was importable on App Engine).
 * - TypeScript runs without a build step: `.ts`/`.mts` are compiled with esbuild's transform
 *   and the output is cached on disk by content hash, so a restarted instance loads compiled
 *   JavaScript without starting esbuild at all (BASELINES: transpiling at every start costs
 *   ~100 ms).
 * - TypeScript's convention of importing `./x.js` for `./x.ts` is honoured.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TYPESCRIPT_FILE, typeScriptCandidates } from '../shared/precompiled.js';
import { compileError } from './compile-error.js';

interface HookData {
  cacheDir: string;
}

interface ResolveContext {
  parentURL?: string;
  conditions: string[];
}
interface ResolveResult {
  url: string;
  format?: string | null;
  shortCircuit?: boolean;
}
type NextResolve = (specifier: string, context?: ResolveContext) => Promise<ResolveResult>;
interface LoadContext {
  format?: string | null;
  conditions: string[];
}
interface LoadResult {
  format: string;
  source?: string | ArrayBuffer | Uint8Array;
  shortCircuit?: boolean;
}
type NextLoad = (url: string, context?: LoadContext) => Promise<LoadResult>;

/** Public subpaths of the `hangar` package, mapped to the files that implement them. */
const hangarModules: Record<string, URL> = {
  hangar: new URL('../index.js', import.meta.url),
  'hangar/sockets': new URL('../sockets/api.js', import.meta.url),
  'hangar/urlfetch': new URL('../urlfetch/api.js', import.meta.url),
  'hangar/users': new URL('../users/api.js', import.meta.url),
};

let cacheDir = '';

export function initialize(data: HookData): void {
  cacheDir = data.cacheDir;
  mkdirSync(cacheDir, { recursive: true });
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<ResolveResult> {
  const own = hangarModules[specifier];
  if (own) return { url: own.href, format: 'module', shortCircuit: true };
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const parent = context.parentURL;
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (
      !relative ||
      !parent ||
      !TYPESCRIPT_FILE.test(parent) ||
      (err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND'
    ) {
      throw err;
    }
    for (const candidate of typeScriptCandidates(specifier)) {
      try {
        return await nextResolve(candidate, context);
      } catch {
        // try the next spelling
      }
    }
    throw err;
  }
}

export async function load(url: string, context: LoadContext, nextLoad: NextLoad): Promise<LoadResult> {
  // A query (a `.ts` CGI script evaluated afresh per request, cgi/js-cgi.ts) is not the file's name.
  const q = url.indexOf('?');
  if (!url.startsWith('file:') || !TYPESCRIPT_FILE.test(q === -1 ? url : url.slice(0, q)))
    return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = readFileSync(file, 'utf8');
  return { format: 'module', source: await compiled(file, source), shortCircuit: true };
}

/** esbuild's target: the Node major this instance runs on (a version's `runtime:` may differ from the platform's). */
const target = `node${process.versions.node.split('.')[0]}`;

async function compiled(file: string, source: string): Promise<string> {
  // The target is in the key: instances of two versions on different Node majors share the cache.
  const key = createHash('sha256')
    .update(target)
    .update('\0')
    .update(file)
    .update('\0')
    .update(source)
    .digest('hex');
  const cached = join(cacheDir, `${key}.js`);
  try {
    return readFileSync(cached, 'utf8');
  } catch {
    // not compiled yet
  }
  // Loaded only on a cache miss: a warm instance start never pays for esbuild.
  const { transform, stop } = await import('esbuild');
  scheduleStop(stop);
  const result = await transform(source, {
    loader: file.endsWith('x') ? 'tsx' : 'ts',
    format: 'esm',
    target,
    sourcefile: file,
    sourcemap: 'inline',
  }).catch((err: unknown) => {
    throw compileError(err, file) ?? err;
  });
  // Write then rename, so an instance starting alongside never reads half a file.
  const temp = `${cached}.${process.pid}.tmp`;
  writeFileSync(temp, result.code);
  renameSync(temp, cached);
  return result.code;
}

let stopTimer: NodeJS.Timeout | undefined;

/**
 * esbuild compiles in a child process that would otherwise live as long as the instance
 * (~12 MiB each). Once no file has been compiled for a second it is stopped; a later import of
 * an uncompiled file starts it again (esbuild restarts its service on the next call).
 */
function scheduleStop(stop: () => Promise<void>): void {
  clearTimeout(stopTimer);
  stopTimer = setTimeout(() => void stop(), 1_000);
  stopTimer.unref();
}
