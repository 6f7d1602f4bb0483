// Bundles the instance runtime (dist/instance/main.js and what it imports, as tsc wrote them)
// into dist/instance/main.bundle.js at `npm run build`: an instance then loads one file where it
// loaded some sixty, which takes half the time and leaves V8's young generation at its first
// size (docs/decisions.md, "Cold start and memory"). Modules imported with `import()` become
// chunks beside it (CGI, the app's own server, the inspector relay), loaded when used.
//
// What app code can also import stays a file of its own, imported by the bundle: `hangar`,
// `hangar/sockets`, `hangar/urlfetch`, `hangar/users` and everything they import (the request
// context, log capture, the socket link...). App code reaches those files through the version's
// `node_modules/hangar` link or the loader hooks; a copy inside the bundle would be a second
// module with state of its own (another AsyncLocalStorage, another socket link).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const out = join(dist, 'instance');

// Files the app-facing modules reach: they stay files.
const appFacing = ['index.js', 'sockets/api.js', 'urlfetch/api.js', 'users/api.js'].map((f) => join(dist, f));
const closure = await build({
  absWorkingDir: root,
  entryPoints: appFacing,
  bundle: true,
  write: false,
  metafile: true,
  format: 'esm',
  platform: 'node',
  packages: 'external',
  outdir: join(dist, '.app-facing'),
  logLevel: 'warning',
});
const shared = new Set(Object.keys(closure.metafile.inputs).map((input) => resolve(root, input)));

// A previous build's chunks go first.
for (const name of readdirSync(out))
  if (name.startsWith('main.bundle') || name.startsWith('chunk.')) rmSync(join(out, name));

await build({
  absWorkingDir: root,
  entryPoints: { 'main.bundle': join(out, 'main.js') },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  // The oldest Node a version's `runtime:` may name.
  target: 'node18',
  packages: 'external',
  outdir: out,
  chunkNames: 'chunk.[hash]',
  logLevel: 'warning',
  plugins: [
    {
      name: 'app-facing modules stay files',
      setup(b) {
        b.onResolve({ filter: /^\./ }, (args) => {
          const file = resolve(args.resolveDir, args.path);
          if (!shared.has(file)) return undefined;
          let path = relative(out, file).split(sep).join('/');
          if (!path.startsWith('.')) path = `./${path}`;
          return { path, external: true };
        });
      },
    },
  ],
});

if (!existsSync(join(out, 'main.bundle.js'))) throw new Error('dist/instance/main.bundle.js was not written');
