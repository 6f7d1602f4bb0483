/**
 * The first hour with Hangar, as a script (issue 17): for each template, `hangar init` into an
 * empty folder, `hangar dev` on port 0, a request, a save that breaks the code (the previous
 * code serves on, the error is on the terminal and in what the browser gets), the fix, `hangar
 * logs --app`, and Ctrl-C with no error line and no process left behind.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type DevServer, startDev, stopAll } from '../helpers/dev-server.js';
import { alive, descendantsOf } from '../helpers/serve.js';
import { linkPackages } from '../helpers/template-deps.js';

const run = promisify(execFile);

interface Walk {
  template: string;
  greeting: string;
  /** The file a developer breaks, and how. */
  file: string;
  breakIt(text: string): string;
  /** What the terminal says about the broken save: where the mistake is. */
  says: RegExp;
  /** The page at / is HTML: the browser shows the banner. */
  html?: boolean;
}

const walks: Walk[] = [
  {
    template: 'fetch',
    greeting: 'Hello from Hangar!\n',
    file: 'main.ts',
    breakIt: (text) => `${text}\nexport const broken = (;\n`,
    says: /main\.ts:\d+:\d+: Unexpected ";"\n\s+\d+ \| export const broken = \(;/,
  },
  {
    template: 'hono',
    greeting: 'Hello from Hono!\n',
    file: 'main.ts',
    breakIt: (text) => text.replace("c.text('Hello from Hono!\\n')", "c.text('Hello from Hono!\\n'"),
    says: /main\.ts:\d+:\d+: Expected "\)"/,
  },
  {
    template: 'express',
    greeting: 'Hello from Express!\n',
    file: 'app.js',
    breakIt: (text) => `${text}\nconst = 1;\n`,
    says: /app\.js:\d+[\s\S]*SyntaxError/,
  },
  {
    template: 'entrypoint',
    greeting: 'Hello from your own server!\n',
    file: 'server.js',
    breakIt: (text) => `${text}\nconst = 1;\n`,
    says: /server\.js:\d+[\s\S]*SyntaxError/,
  },
  {
    template: 'cgi',
    greeting: 'Hello from CGI!',
    file: 'app.yaml',
    breakIt: (text) => text.replace('threadsafe: false', 'threadsafe: maybe'),
    says: /app\.yaml:\d+:\d+ threadsafe/,
    html: true,
  },
];

describe('the first hour, per template', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    await stopAll();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("a handler that throws: the dev 500 page shows the error in the app's own frames", async () => {
    const root = mkdtempSync(join(tmpdir(), 'hangar-first-hour-'));
    dirs.push(root);
    const dir = join(root, 'throws');
    await run(process.execPath, [cli, 'init', dir]);
    writeFileSync(
      join(dir, 'main.ts'),
      'function total(items: number[]): number {\n  throw new TypeError("cannot add " + items.length + " items");\n}\nexport function app(): Response {\n  return new Response(String(total([1, 2])));\n}\n',
    );
    const dev = await startDev([dir]);
    const res = await fetch(dev.url);
    expect(res.status).toBe(500);
    const page = await res.text();
    expect(page).toContain('TypeError: cannot add 2 items');
    expect(page).toMatch(/at total \(.*main\.ts:2:\d+\)/);
    expect(page).toMatch(
      /frames? of Hangar, Node and node_modules hidden; hangar dev --full-traces shows them/,
    );
    expect(page).not.toMatch(/dist\/instance|node:internal/);
    // The terminal says the same, trimmed the same way.
    await dev.waitFor(/cannot add 2 items/);
    expect(dev.output()).not.toMatch(/dist\/instance\//);
  });

  for (const walk of walks) {
    it(`${walk.template}: init, dev, break, fix, logs --app, Ctrl-C`, async () => {
      const root = mkdtempSync(join(tmpdir(), 'hangar-first-hour-'));
      dirs.push(root);
      const dir = join(root, `my-${walk.template}-app`);
      const app = `my-${walk.template}-app`;

      const init = await run(process.execPath, [cli, 'init', dir, '--template', walk.template]);
      expect(init.stdout).toContain('npx hangar dev');
      // What `npm install` would do, without the network.
      linkPackages(dir);

      const dev: DevServer = await startDev([dir]);
      const first = await fetch(dev.url);
      expect(await first.text()).toContain(walk.greeting);
      expect(first.headers.get('x-hangar-reload-failed')).toBeNull();

      // A save that does not load: the previous code serves on, and says so.
      const path = join(dir, walk.file);
      const good = readFileSync(path, 'utf8');
      const broken = walk.breakIt(good);
      expect(broken).not.toBe(good);
      writeFileSync(path, broken);
      await dev.waitFor(/still serving the previous (code|app\.yaml); fix it and save again/, 15_000);
      expect(dev.output()).toMatch(walk.says);
      // Neither esbuild's nor Hangar's own workings in what the developer reads.
      expect(dev.output()).not.toMatch(/node_modules\/esbuild|dist\/instance\//);
      const stale = await fetch(dev.url, { headers: { accept: 'text/html' } });
      const body = await stale.text();
      expect(body).toContain(walk.greeting);
      expect(stale.headers.get('x-hangar-reload-failed')).toMatch(/\S/);
      if (walk.html)
        expect(body).toMatch(/id="hangar-reload-failed"[\s\S]*this page comes from the previous code/);

      // The fix takes over, and the mark is gone.
      writeFileSync(path, good);
      await dev.waitFor(/the new code loaded and serves/, 15_000);
      const fixed = await fetch(dev.url);
      expect(await fixed.text()).toContain(walk.greeting);
      expect(fixed.headers.get('x-hangar-reload-failed')).toBeNull();

      // The requests are in the log, under the app's name; another app's filter finds none.
      const logs = await run(process.execPath, [cli, 'logs', '--app', app, '--data-dir', dev.dataDir]);
      expect(logs.stdout.match(/ GET {2}\/ /g)?.length).toBeGreaterThanOrEqual(3);
      const other = await run(process.execPath, [
        cli,
        'logs',
        '--app',
        'someone-else',
        '--data-dir',
        dev.dataDir,
      ]);
      expect(other.stdout).toBe('');
      expect(other.stderr).toContain('(no matching requests)');

      // Ctrl-C: exit 0, no error line on the way out, nothing left running.
      const processes = descendantsOf(dev.process.pid!);
      expect(processes.length).toBeGreaterThan(0);
      const before = dev.output().length;
      expect(await dev.stop()).toBe(0);
      const farewell = dev.output().slice(before);
      expect(farewell).not.toMatch(/error|exited \(SIGINT\)|socket service exited/i);
      expect(processes.filter(alive)).toEqual([]);
    });
  }
});
