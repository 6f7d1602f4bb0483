import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The app's own source files: every file under the app's folder whose name `accept` takes,
 * outside `node_modules` and dot folders (packages and tools are not the app's code), at most
 * `max` of them, so a huge folder cannot hold anything up for long.
 *
 * @example
 * appSourceFiles('/app', (name) => name.endsWith('.ts'), 5_000) // ['/app/main.ts', '/app/lib/db.ts']
 */
export function appSourceFiles(appDir: string, accept: (name: string) => boolean, max: number): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (found.length >= max) return;
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && accept(entry.name)) found.push(path);
    }
  };
  walk(appDir);
  return found;
}
