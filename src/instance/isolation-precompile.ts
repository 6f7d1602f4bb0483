/**
 * Runs just before an instance that Node's permission model confines (src/scheduler/isolation.ts,
 * mode `permission`): there the instance may not start esbuild's service process, so the app's
 * TypeScript is compiled here first, into the same cache and by the instance's own loader hook
 * (`load` of loader-hooks.ts), and the instance then finds every file compiled. A shell starts
 * this without the IPC channel, waits for it, then execs the instance in its place.
 *
 * Compiles `.ts`, `.tsx` and `.mts` files under the app's folder, except `node_modules` and
 * dot-folders; an app importing TypeScript from elsewhere gets Node's `ERR_ACCESS_DENIED` for
 * it in this mode. A file that does not compile is reported on stderr (it is in the instance's
 * start error if the app imports it) and the others are compiled still.
 */
import { pathToFileURL } from 'node:url';
import { appSourceFiles } from './app-source-files.js';
import { initialize, load } from './loader-hooks.js';

/** Most files looked at, so a huge folder cannot hold up the start for long. */
const maxFiles = 5_000;
const typeScript = /\.m?tsx?$/;
const declarations = /\.d\.m?ts$/;

const init = JSON.parse(process.env.HANGAR_INSTANCE_INIT ?? '{}') as { appDir?: unknown; cacheDir?: unknown };
if (typeof init.appDir === 'string' && typeof init.cacheDir === 'string') {
  initialize({ cacheDir: init.cacheDir });
  const files = appSourceFiles(
    init.appDir,
    (name) => typeScript.test(name) && !declarations.test(name),
    maxFiles,
  );
  const notLoaded = () => Promise.reject(new Error('not a TypeScript file'));
  await Promise.all(
    files.map((file) =>
      load(pathToFileURL(file).href, { conditions: [] }, notLoaded).catch((err: unknown) => {
        process.stderr.write(`hangar: ${file} did not compile: ${(err as Error).message ?? err}\n`);
      }),
    ),
  );
}
