// Bundles the console (src/console/, Preact and uPlot) into dist/console/ with esbuild, at
// `npm run build`: the admin port serves these files and nothing else, so the console works
// offline (docs/console.md).
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/console');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(root, 'src/console/main.tsx')],
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: true,
  outfile: join(out, 'app.js'),
  legalComments: 'linked',
  logLevel: 'warning',
});
// uPlot's stylesheet, then the console's own.
const css = [
  readFileSync(join(root, 'node_modules/uplot/dist/uPlot.min.css'), 'utf8'),
  readFileSync(join(root, 'src/console/console.css'), 'utf8'),
].join('\n');
writeFileSync(join(out, 'app.css'), css);
copyFileSync(join(root, 'src/console/index.html'), join(out, 'index.html'));
