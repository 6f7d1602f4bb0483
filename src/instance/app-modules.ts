/**
 * Which file the instance imports for one of the app's modules. A deployed version whose
 * TypeScript was compiled at deploy (src/versions/precompile.ts) is loaded from the compiled
 * files beside the sources, with no loader hooks; otherwise the source itself, which the loader
 * hooks compile (loader-hooks.ts).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PRECOMPILED_SUFFIX, TYPESCRIPT_FILE } from '../shared/precompiled.js';

let precompiled = false;

/** From now on the app's TypeScript is loaded compiled (the instance registered no hooks). */
export function usePrecompiled(): void {
  precompiled = true;
}

/**
 * The URL to import for `path` (relative to `appDir`).
 *
 * @example
 * appModuleUrl('/v/app', 'main.ts') // 'file:///v/app/main.ts.hangar.mjs' once usePrecompiled() was called
 */
export function appModuleUrl(appDir: string, path: string): string {
  const file = join(appDir, path);
  return pathToFileURL(precompiled && TYPESCRIPT_FILE.test(file) ? file + PRECOMPILED_SUFFIX : file).href;
}
