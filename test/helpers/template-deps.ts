import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from './dev-server.js';

/**
 * What `npm install` would put in node_modules for the app's dependencies and devDependencies:
 * a link to each package in Hangar's own node_modules (whose dependencies Node then finds from
 * there), and its bins in node_modules/.bin. Returns the packages linked.
 */
export function linkPackages(appDir: string): string[] {
  const pkg = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const names = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });
  for (const name of names) {
    const source = join(repoRoot, 'node_modules', name);
    const link = join(appDir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(source, link, 'dir');
    const own = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as {
      bin?: string | Record<string, string>;
    };
    const bins = typeof own.bin === 'string' ? { [name.split('/').at(-1)!]: own.bin } : (own.bin ?? {});
    for (const [bin, file] of Object.entries(bins)) {
      mkdirSync(join(appDir, 'node_modules/.bin'), { recursive: true });
      symlinkSync(join(source, file), join(appDir, 'node_modules/.bin', bin));
    }
  }
  return names;
}
